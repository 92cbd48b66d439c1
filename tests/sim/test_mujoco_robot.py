"""sim.MujocoRobot: the robot contract in MuJoCo, for the shipped arm and base and arm variants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware import Command, Robot, RobotSpec
from hardware.errors import CommandError
from hardware.safety import SafeRobot
from robots import robot_yaml
from sim.dynamics import DynamicsParams
from sim.mujoco_robot import MujocoRobot
from sim.world import Marker, WorldLayout, WorldObject
from tests.sim.helpers import robot_spec, ur5e_variant

UR5E = RobotSpec.from_yaml(robot_yaml("ur5e"))
BURGER = RobotSpec.from_yaml(robot_yaml("burger"))
WALL_AHEAD = WorldLayout(
    objects=(WorldObject("wall", "box", (0.05, 1.0, 0.3), (1.0, 0.0, 0.3)),),
    markers=(Marker("goal", radius_m=0.1, position=(-0.6, 0.0, 0.17)),),
)


def test_is_a_robot_and_reads_in_spec_order_on_simulation_time() -> None:
    robot = MujocoRobot(UR5E)
    assert isinstance(robot, Robot)
    state = robot.reset()
    np.testing.assert_array_equal(state.position, UR5E.home_position)
    assert state.stamp_ns == 0 and state.odometry is None and state.scan is None
    robot.write(Command.position(UR5E.home_position))
    assert robot.read().stamp_ns == round(UR5E.control_period_s * 1e9)
    assert robot.substeps == round(UR5E.control_period_s / UR5E.sim.timestep_s)


def test_arm_tracks_a_streamed_target_through_the_safety_layer() -> None:
    raw = MujocoRobot(UR5E)
    robot = SafeRobot(raw, clock_ns=raw.now_ns)
    robot.reset()
    amplitude = np.array([0.8, 0.25, -0.4, 0.8, 0.8, 0.8])  # stays clear of the floor
    errors = []
    for k in range(100):  # 10 s at 10 Hz, up to 1 rad/s
        robot.read()
        target = UR5E.home_position + amplitude * np.sin(2 * np.pi * 0.2 * k * UR5E.control_period_s)
        sent = robot.write(Command.position(target))
        errors.append(np.abs(raw.read().position - sent.values))
    # Interpolation with velocity feed-forward: millimetre-level at the end of each period.
    assert np.max(errors) < 0.01
    assert not robot.last_report.held


def test_gravity_compensated_arm_holds_home_still() -> None:
    robot = MujocoRobot(UR5E)
    robot.reset()
    for _ in range(20):
        robot.write(Command.position(UR5E.home_position))
    assert np.abs(robot.read().position - UR5E.home_position).max() < 1e-6


@pytest.mark.parametrize("interface", ["velocity", "effort"])
def test_velocity_and_effort_arms_move_the_way_they_are_told(interface: str, tmp_path: Path) -> None:
    spec = ur5e_variant(tmp_path, command_interface=interface)
    robot = MujocoRobot(spec)
    start = robot.reset().position
    command = np.zeros(spec.dof)
    command[0] = 0.5 if interface == "velocity" else 20.0  # shoulder pan: no gravity about z
    for _ in range(5):
        robot.write(Command(interface, command))
    state = robot.read()
    assert state.position[0] - start[0] > 0.05 and state.velocity[0] > 0
    if interface == "velocity":
        assert state.velocity[0] == pytest.approx(0.5, rel=0.05)


def test_raw_write_refuses_nonfinite_and_foreign_commands_and_clips_ranges() -> None:
    robot = MujocoRobot(UR5E)
    robot.reset()
    with pytest.raises(CommandError, match="not finite.*SafeRobot"):
        robot.write(Command.position([np.nan] * 6))
    with pytest.raises(CommandError, match="takes position commands"):
        robot.write(Command.velocity(np.zeros(6)))
    applied = robot.write(Command.position(UR5E.position_upper + 1.0))
    np.testing.assert_array_equal(applied.values, UR5E.position_upper)


def test_action_delay_shifts_the_response_by_whole_control_periods() -> None:
    commands = [Command.position(UR5E.home_position + 0.02 * (k + 1)) for k in range(8)]
    hold = Command.position(UR5E.home_position)
    prompt = MujocoRobot(UR5E)
    prompt.reset()
    reference = [prompt.write(c) and prompt.read().position for c in [hold, hold, *commands]]
    delayed = MujocoRobot(UR5E, dynamics=DynamicsParams(action_delay_steps=2))
    delayed.reset()
    late = [delayed.write(c) and delayed.read().position for c in commands]
    np.testing.assert_array_equal(late, reference[: len(late)])
    assert not np.array_equal(late[-1], prompt.read().position)


def test_seeded_resets_repeat_bit_for_bit_with_noise_and_randomized_start() -> None:
    noisy = DynamicsParams(position_noise_std=0.01, velocity_noise_std=0.01, initial_position_noise=0.1)
    robot = MujocoRobot(UR5E, dynamics=noisy)

    def run(seed: int) -> list[np.ndarray]:
        states = [robot.reset(seed=seed).position]
        for k in range(10):
            robot.write(Command.position(UR5E.home_position + 0.03 * k))
            states.append(robot.read().position)
        return states

    first, again, other = run(7), run(7), run(8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], other[0])


def test_base_drives_straight_and_turns_in_place_with_wheel_odometry() -> None:
    robot = MujocoRobot(BURGER)
    robot.reset()
    for _ in range(40):  # 2 s at 0.2 m/s
        robot.write(Command.twist(0.2, 0.0))
    odometry = robot.read().odometry
    assert odometry is not None
    assert odometry.x_m == pytest.approx(0.4, abs=0.02) and abs(odometry.y_m) < 0.005
    assert robot.base_pose().position[0] == pytest.approx(odometry.x_m, abs=0.02)
    assert odometry.linear_x_mps == pytest.approx(0.2, abs=0.01)

    robot.reset()
    for _ in range(20):  # 1 s at 1 rad/s
        robot.write(Command.twist(0.0, 1.0))
    turned = robot.read().odometry
    assert turned is not None
    assert turned.yaw_rad == pytest.approx(1.0, abs=0.1) and np.hypot(turned.x_m, turned.y_m) < 0.01
    assert robot.base_pose().yaw_rad == pytest.approx(turned.yaw_rad, abs=0.05)


def test_laser_sees_walls_not_markers_at_its_own_rate() -> None:
    robot = MujocoRobot(BURGER, world=WALL_AHEAD)
    state = robot.reset()
    assert state.scan is not None
    laser_x = robot.data.site_xpos[robot.model.site("laser").id][0]
    ranges = state.scan.ranges_m
    assert ranges[0] == pytest.approx(0.95 - laser_x, abs=1e-6)  # beam 0 looks along +x at the wall face
    assert np.isinf(ranges[180]), "the marker behind the robot is invisible to the laser"
    assert np.isinf(ranges[90])
    stamps = set()
    for _ in range(8):  # 0.4 s at 20 Hz: a 5 Hz laser sweeps twice
        robot.write(Command.twist(0.2, 0.0))
        scan = robot.read().scan
        assert scan is not None
        stamps.add(scan.stamp_ns)
    assert sorted(stamps) == [0, 200_000_000, 400_000_000]


def test_dynamics_change_the_physics_and_bad_values_are_refused() -> None:
    slippery = MujocoRobot(BURGER, dynamics=DynamicsParams(friction_scale=0.02))
    slippery.reset()
    for _ in range(40):
        slippery.write(Command.twist(0.2, 0.0))
    odometry = slippery.read().odometry
    assert odometry is not None and odometry.x_m > 0.35  # the wheels turned...
    assert slippery.base_pose().position[0] < 0.75 * odometry.x_m  # ...but slipped (nominal: 98 %)
    with pytest.raises(ValueError, match="damping has 3 values"):
        slippery.set_dynamics(DynamicsParams(damping=(1.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="not in the model.*'tabel'"):
        slippery.set_dynamics(DynamicsParams(mass_scale={"tabel": 2.0}))


def test_world_objects_and_markers_can_be_placed_and_read() -> None:
    block = WorldObject("block", "box", (0.02, 0.02, 0.02), (0.5, 0.0, 0.02), mass_kg=0.1)
    robot = MujocoRobot(UR5E, world=WorldLayout(objects=(block,), markers=(Marker("target"),)))
    robot.reset()
    robot.set_object_pose("block", [0.4, 0.1, 0.02], yaw_rad=0.5)
    pose = robot.object_pose("block")
    np.testing.assert_allclose(pose.position, [0.4, 0.1, 0.02])
    assert pose.yaw_rad == pytest.approx(0.5)
    robot.set_marker("target", [0.3, 0.2, 0.4])
    np.testing.assert_allclose(robot.object_pose("target").position, [0.3, 0.2, 0.4])
    robot.reset()
    np.testing.assert_allclose(robot.object_pose("block").position, [0.5, 0.0, 0.02], atol=1e-9)
    with pytest.raises(KeyError, match="no object or marker 'blok'"):
        robot.object_pose("blok")
    frame = robot.render(64, 48)
    assert frame.shape == (48, 64, 3) and frame.std() > 5


@pytest.mark.parametrize("backend", ["mujoco", "pybullet"])
def test_a_user_urdf_arm_drives_and_reaches_in_either_simulator(backend: str, tmp_path: Path) -> None:
    """The Franka Panda from pybullet_data (not our URDF, package:// meshes, default gains) runs
    through the same robot, safety layer and end-effector IK as our own arm."""
    import gymnasium as gym

    import sim.envs  # noqa: F401

    spec = robot_spec("panda", tmp_path)
    env = gym.make("sim2real/ArmReach-v0", robot=spec, backend=backend)
    observation, _ = env.reset(seed=3)
    step = env.unwrapped.task.actions.max_ee_step_m
    for _ in range(50):  # straight at the goal: the scripted controller of `sim2real rollout`
        action = np.clip((observation["desired_goal"] - observation["achieved_goal"]) / step, -1, 1)
        observation, _, _, _, info = env.step(action)
    assert info["is_success"], info
    position = env.unwrapped.sim.read().position
    assert np.all(position >= spec.position_lower) and np.all(position <= spec.position_upper)
    env.close()
