"""PybulletRobot: the sim robot API in PyBullet (real PyBullet, no mocks). Arms track, hold and
move per interface; commands are checked and delayed; a base drives, turns, odometry and laser
work; the world is built, reset reproducibly and changed by set_dynamics."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pybullet
import pytest
import yaml

from hardware import Command, Robot, RobotSpec
from hardware.errors import CommandError
from sim.dynamics import DynamicsParams
from sim.pybullet_robot import PybulletRobot
from sim.world import Marker, SimWorld, WorldLayout, WorldObject
from tests.sim.helpers import ROBOTS_DIR, ur5e_variant

UR5E = RobotSpec.from_yaml(ROBOTS_DIR / "ur5e.yaml")
BURGER = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")


@pytest.fixture
def arm() -> Iterator[PybulletRobot]:
    robot = PybulletRobot(UR5E)
    yield robot
    robot.close()


@pytest.fixture
def base() -> Iterator[PybulletRobot]:
    robot = PybulletRobot(BURGER)
    yield robot
    robot.close()


def _drive(robot: PybulletRobot, command: Command, seconds: float) -> None:
    for _ in range(round(seconds * robot.spec.control_rate_hz)):
        robot.write(command)


def _sim_yaml() -> dict[str, object]:
    """The ``sim`` section of robots/ur5e.yaml, to edit for a variant."""
    return dict(yaml.safe_load((ROBOTS_DIR / "ur5e.yaml").read_text())["sim"])


def _wall_ahead(front_face_x_m: float) -> WorldObject:
    return WorldObject("wall", "box", (0.05, 1.0, 0.3), (front_face_x_m + 0.05, 0.0, 0.3))


# --- the contract --------------------------------------------------------------------------------


def test_implements_the_robot_and_world_protocols(arm: PybulletRobot) -> None:
    assert isinstance(arm, Robot)
    assert isinstance(arm, SimWorld)
    assert arm.substeps == round(UR5E.control_period_s / UR5E.sim.timestep_s)
    assert arm.dynamics.kp == UR5E.sim.kp  # resolved against the spec
    state = arm.read()
    assert state.stamp_ns == 0
    np.testing.assert_allclose(state.position, UR5E.home_position, atol=1e-12)


def test_time_advances_one_control_period_per_write(arm: PybulletRobot) -> None:
    arm.write(Command.position(UR5E.home_position))
    arm.write(Command.position(UR5E.home_position))
    assert arm.now_ns() == arm.read().stamp_ns == 2 * round(UR5E.control_period_s * 1e9)


def test_raw_write_rejects_nan_and_the_wrong_interface(arm: PybulletRobot) -> None:
    bad = UR5E.home_position.copy()
    bad[2] = math.nan
    with pytest.raises(CommandError, match="SafeRobot"):
        arm.write(Command.position(bad))
    with pytest.raises(CommandError, match="velocity command"):
        arm.write(Command.velocity(np.zeros(UR5E.dof)))
    with pytest.raises(CommandError, match="6"):
        arm.write(Command.position(np.zeros(3)))
    assert arm.now_ns() == 0  # nothing was applied


def test_write_returns_the_command_clipped_to_the_joint_range(arm: PybulletRobot) -> None:
    target = UR5E.home_position.copy()
    target[2] = 10.0  # the elbow's range is ±pi
    applied = arm.write(Command.position(target))
    assert applied.values[2] == pytest.approx(UR5E.position_upper[2])


# --- arms ----------------------------------------------------------------------------------------


def test_arm_tracks_a_slow_position_ramp(arm: PybulletRobot) -> None:
    worst = 0.0
    for k in range(1, 31):  # 3 s, every joint 0.1 rad/s
        target = UR5E.home_position + 0.1 * k * UR5E.control_period_s
        arm.write(Command.position(target))
        worst = max(worst, float(np.abs(arm.read().position - target).max()))
    assert worst < 0.005


@pytest.mark.parametrize("gravity_compensation", [True, False])
def test_arm_holds_home_against_gravity(gravity_compensation: bool, tmp_path: Path) -> None:
    spec = UR5E if gravity_compensation else ur5e_variant(tmp_path, sim={**_sim_yaml(), "gravity_compensation": False})
    robot = PybulletRobot(spec)
    _drive(robot, Command.position(spec.home_position), 1.0)
    state = robot.read()
    # Without compensation the servo sags by gravity / kp, as MuJoCo's does (< 0.008 rad).
    assert np.abs(state.position - spec.home_position).max() < (1e-9 if gravity_compensation else 0.01)
    assert np.abs(state.velocity).max() < 1e-3
    robot.close()


def test_velocity_arm_moves_in_the_commanded_direction(tmp_path: Path) -> None:
    robot = PybulletRobot(ur5e_variant(tmp_path, command_interface="velocity"))
    speed = np.array([0.3, 0.0, -0.2, 0.0, 0.0, 0.4])
    _drive(robot, Command.velocity(speed), 1.0)
    state = robot.read()
    np.testing.assert_allclose(state.velocity, speed, atol=0.02)
    moved = state.position - UR5E.home_position
    assert np.all(np.sign(moved[[0, 2, 5]]) == np.sign(speed[[0, 2, 5]]))
    assert abs(moved[0]) == pytest.approx(0.3, rel=0.1)
    robot.close()


def test_effort_arm_moves_in_the_commanded_direction_and_holds_with_zero(tmp_path: Path) -> None:
    robot = PybulletRobot(ur5e_variant(tmp_path, command_interface="effort"))
    _drive(robot, Command.effort(np.zeros(UR5E.dof)), 0.5)  # gravity compensated: stays
    assert np.abs(robot.read().position - UR5E.home_position).max() < 1e-6
    torque = np.array([20.0, 0.0, 0.0, 0.0, 0.0, -2.0])
    _drive(robot, Command.effort(torque), 0.3)
    state = robot.read()
    assert state.velocity[0] > 0.05 and state.velocity[5] < -0.05
    np.testing.assert_allclose(state.effort[[0, 5]], torque[[0, 5]], atol=1e-9)  # no gravity on these
    robot.close()


def test_friction_loss_holds_an_effort_joint_against_a_smaller_torque(tmp_path: Path) -> None:
    robot = PybulletRobot(ur5e_variant(tmp_path, command_interface="effort"))
    robot.set_dynamics(DynamicsParams(friction_loss=(5.0, 0.0, 0.0, 0.0, 0.0, 0.0)))
    robot.reset()
    _drive(robot, Command.effort([3.0, 0, 0, 0, 0, 0]), 0.5)
    assert abs(robot.read().position[0] - UR5E.home_position[0]) < 1e-6
    _drive(robot, Command.effort([8.0, 0, 0, 0, 0, 0]), 0.5)
    assert robot.read().position[0] - UR5E.home_position[0] > 0.01
    robot.close()


def test_action_delay_shifts_the_response_by_whole_control_periods() -> None:
    prompt = PybulletRobot(UR5E)
    delayed = PybulletRobot(UR5E, dynamics=DynamicsParams(action_delay_steps=2))
    rng = np.random.default_rng(0)
    targets = UR5E.home_position + np.cumsum(rng.uniform(-0.03, 0.03, (8, UR5E.dof)), axis=0)
    prompt_positions, delayed_positions = [], []
    for target in targets:
        command = Command.position(target)
        assert np.array_equal(delayed.write(command).values, target)  # returned as it entered the line
        prompt.write(command)
        prompt_positions.append(prompt.read().position)
        delayed_positions.append(delayed.read().position)
    np.testing.assert_allclose(delayed_positions[0], UR5E.home_position, atol=1e-12)
    np.testing.assert_allclose(delayed_positions[1], UR5E.home_position, atol=1e-12)
    np.testing.assert_allclose(delayed_positions[2:], prompt_positions[:-2], atol=1e-12)
    assert np.abs(prompt_positions[2] - prompt_positions[0]).max() > 0.01  # the shift is visible
    prompt.close()
    delayed.close()


def test_heavier_links_accelerate_less_under_the_same_torque(tmp_path: Path) -> None:
    robot = PybulletRobot(ur5e_variant(tmp_path, command_interface="effort"))

    def turn() -> float:
        robot.reset()
        _drive(robot, Command.effort([20.0, 0, 0, 0, 0, 0]), 0.3)
        return float(robot.read().position[0] - UR5E.home_position[0])

    nominal = turn()
    robot.set_dynamics(DynamicsParams(mass_scale={"upper_arm_link": 4.0, "forearm_link": 4.0}))
    heavy = turn()
    assert 0.0 < heavy < 0.75 * nominal
    robot.close()


def test_changed_dynamics_leave_no_trace() -> None:
    """A robot whose masses changed many times runs exactly as a new one built with the last."""
    last = DynamicsParams(mass_scale={"upper_arm_link": 1.2, "forearm_link": 0.8}, damping=(2.0,) * 6)
    veteran = PybulletRobot(UR5E)
    for scale in (1.1, 0.9, 1.3, 0.7, 1.05, 0.95, 1.2, 0.8, 1.15, 0.85):
        veteran.set_dynamics(DynamicsParams(mass_scale={"upper_arm_link": scale, "shoulder_link": 2 - scale}))
        veteran.reset(seed=round(100 * scale))
        _drive(veteran, Command.position(UR5E.home_position + 0.1), 0.2)
    veteran.set_dynamics(last)
    fresh = PybulletRobot(UR5E, dynamics=last)
    target = UR5E.home_position + np.array([0.2, -0.1, 0.1, 0.2, -0.2, 0.3])
    for robot in (veteran, fresh):
        robot.reset(seed=1)
        _drive(robot, Command.position(target), 0.5)
    assert np.array_equal(veteran.read().position, fresh.read().position)
    veteran.close()
    fresh.close()


# --- bases ---------------------------------------------------------------------------------------


def test_base_rests_on_the_floor_on_a_frictionless_caster(base: PybulletRobot) -> None:
    caster = base.body.link_index["caster_back_link"]
    assert pybullet.getDynamicsInfo(base.body.body_id, caster, physicsClientId=base.client)[1] == 0.0
    _drive(base, Command.twist(0.0, 0.0), 1.0)
    pose = base.base_pose()
    assert abs(pose.position[2]) < 0.003
    assert np.abs(pose.position[:2]).max() < 3e-3


def test_base_drives_straight(base: PybulletRobot) -> None:
    _drive(base, Command.twist(0.2, 0.0), 2.0)
    odometry = base.read().odometry
    assert odometry is not None
    assert odometry.x_m == pytest.approx(0.4, abs=0.01)
    assert odometry.linear_x_mps == pytest.approx(0.2, abs=0.01)
    truth = base.base_pose()
    assert truth.position[0] == pytest.approx(0.4, abs=0.03)
    assert abs(truth.position[1]) < 0.01 and abs(odometry.y_m) < 0.01


def test_base_turns_in_place(base: PybulletRobot) -> None:
    _drive(base, Command.twist(0.0, 1.0), 1.0)
    odometry = base.read().odometry
    assert odometry is not None
    assert odometry.yaw_rad == pytest.approx(1.0, abs=0.05)
    assert base.base_pose().yaw_rad == pytest.approx(1.0, abs=0.1)
    assert np.hypot(*base.base_pose().position[:2]) < 0.01
    assert np.hypot(odometry.x_m, odometry.y_m) < 0.005


def test_set_base_pose_places_the_base_and_restarts_odometry(base: PybulletRobot) -> None:
    _drive(base, Command.twist(0.2, 0.5), 1.0)
    base.set_base_pose(1.0, -0.5, math.pi / 2)
    odometry = base.read().odometry
    assert odometry is not None and (odometry.x_m, odometry.y_m, odometry.yaw_rad) == (0.0, 0.0, 0.0)
    _drive(base, Command.twist(0.2, 0.0), 1.0)
    pose = base.base_pose()
    assert pose.yaw_rad == pytest.approx(math.pi / 2, abs=0.05)
    assert pose.position[0] == pytest.approx(1.0, abs=0.02)
    assert pose.position[1] == pytest.approx(-0.3, abs=0.03)


def test_laser_sees_a_wall_ahead_and_nothing_behind_but_never_a_marker() -> None:
    marker = Marker("goal", radius_m=0.1, position=(0.5, 0.0, 0.18))  # right in the scan plane
    robot = PybulletRobot(BURGER, world=WorldLayout(objects=(_wall_ahead(1.0),), markers=(marker,)))
    laser = BURGER.sensors.laser
    assert laser is not None
    scan = robot.read().scan
    assert scan is not None and scan.ranges_m.shape == (laser.num_beams,)
    laser_x = robot.body.link_pose(laser.link)[0][0]
    ahead = int(np.argmin(np.abs(laser.angles_rad)))
    behind = int(np.argmin(np.abs(laser.angles_rad - math.pi)))
    assert scan.ranges_m[ahead] == pytest.approx(1.0 - laser_x, abs=1e-3)
    assert math.isinf(scan.ranges_m[behind])
    # Beams 30 degrees off the axis reach the wall's face further away.
    off_axis = int(np.argmin(np.abs(laser.angles_rad - math.radians(30))))
    assert scan.ranges_m[off_axis] == pytest.approx((1.0 - laser_x) / math.cos(math.radians(30)), abs=2e-3)
    robot.close()


def test_laser_refreshes_at_its_own_rate() -> None:
    robot = PybulletRobot(BURGER, world=WorldLayout(objects=(_wall_ahead(1.0),)))
    laser = BURGER.sensors.laser
    assert laser is not None
    stamps = set()
    for _ in range(round(BURGER.control_rate_hz)):  # 1 s
        robot.write(Command.twist(0.2, 0.0))
        scan = robot.read().scan
        assert scan is not None
        stamps.add(scan.stamp_ns)
    period_ns = round(1e9 / laser.rate_hz)
    assert stamps == {k * period_ns for k in range(round(laser.rate_hz) + 1)}  # 0, 0.2, ..., 1.0 s
    latest = robot.read().scan
    assert latest is not None and latest.ranges_m[0] < 1.0 - 0.15  # the wall came closer
    robot.close()


def test_a_scan_never_sees_the_robot_itself(base: PybulletRobot) -> None:
    scan = base.read().scan
    assert scan is not None and np.all(np.isinf(scan.ranges_m))  # an empty world


# --- the world -----------------------------------------------------------------------------------


def test_world_objects_rest_move_and_reset() -> None:
    layout = WorldLayout(
        objects=(
            WorldObject("table", "box", (0.3, 0.3, 0.2), (0.6, 0.0, 0.2)),
            WorldObject("ball", "sphere", (0.03,), (0.6, 0.0, 0.45), mass_kg=0.1),
            WorldObject("can", "cylinder", (0.03, 0.05), (0.6, 0.2, 0.45), yaw_rad=0.3, mass_kg=0.1),
        )
    )
    robot = PybulletRobot(UR5E, world=layout)
    _drive(robot, Command.position(UR5E.home_position), 1.0)
    assert robot.object_pose("ball").position[2] == pytest.approx(0.43, abs=2e-3)  # fell onto the table
    assert robot.object_pose("can").position[2] == pytest.approx(0.45, abs=2e-3)
    assert robot.object_pose("can").yaw_rad == pytest.approx(0.3, abs=1e-3)
    np.testing.assert_allclose(robot.object_pose("table").position, (0.6, 0.0, 0.2))
    robot.set_object_pose("ball", (0.5, -0.1, 0.5), yaw_rad=1.0)
    np.testing.assert_allclose(robot.object_pose("ball").position, (0.5, -0.1, 0.5))
    robot.reset()
    np.testing.assert_allclose(robot.object_pose("ball").position, (0.6, 0.0, 0.45))
    robot.close()


def test_seeded_resets_are_bit_identical() -> None:
    layout = WorldLayout(objects=(WorldObject("block", "box", (0.05, 0.05, 0.05), (0.35, 0.0, 0.05), mass_kg=0.3),))
    noisy = DynamicsParams(initial_position_noise=0.1, odometry_noise_std=0.01, scan_noise_std=0.01)
    robot = PybulletRobot(BURGER, world=layout, dynamics=noisy)

    def run(seed: int) -> np.ndarray:
        robot.reset(seed=seed)
        for k in range(50):
            robot.write(Command.twist(0.2, 0.3 * math.sin(k / 5)))
        state = robot.read()
        assert state.odometry is not None and state.scan is not None
        odometry = [state.odometry.x_m, state.odometry.y_m, state.odometry.yaw_rad]
        parts = [state.position, state.velocity, odometry, state.scan.ranges_m, robot.base_pose().position]
        return np.concatenate([*parts, robot.object_pose("block").position])

    first = run(3)
    robot.set_base_pose(1.0, 1.0, 2.0)  # leave contacts elsewhere in between
    _drive(robot, Command.twist(0.1, 0.5), 1.0)
    assert np.array_equal(run(3), first)
    assert not np.array_equal(run(4), first)
    robot.close()


def test_lower_friction_makes_the_wheels_slip(base: PybulletRobot) -> None:
    base.set_dynamics(DynamicsParams(friction_scale=0.0))
    base.reset()
    _drive(base, Command.twist(0.2, 0.0), 1.0)
    odometry = base.read().odometry
    assert odometry is not None and odometry.x_m == pytest.approx(0.2, abs=0.01)  # the wheels turned
    assert abs(base.base_pose().position[0]) < 0.02  # the robot did not go


def test_a_heavier_block_takes_more_push() -> None:
    layout = WorldLayout(objects=(WorldObject("block", "box", (0.05, 0.1, 0.05), (0.25, 0.0, 0.05), mass_kg=0.1),))
    robot = PybulletRobot(BURGER, world=layout)

    def push() -> float:
        robot.reset()
        _drive(robot, Command.twist(0.15, 0.0), 2.5)
        return float(robot.object_pose("block").position[0] - 0.25)

    light = push()
    robot.set_dynamics(DynamicsParams(mass_scale={"block": 200.0}))
    heavy = push()
    assert light > 0.1
    assert heavy < 0.2 * light
    robot.close()


def test_bad_inputs_raise_clear_errors(base: PybulletRobot, arm: PybulletRobot) -> None:
    with pytest.raises(KeyError, match="no object 'nope'"):
        base.object_pose("nope")
    with pytest.raises(KeyError, match="no marker 'nope'"):
        base.set_marker("nope", (0, 0, 0))
    with pytest.raises(ValueError, match="damping has 1 values"):
        base.set_dynamics(DynamicsParams(damping=(1.0,)))
    with pytest.raises(ValueError, match="mass_scale names"):
        base.set_dynamics(DynamicsParams(mass_scale={"no_such_link": 2.0}))
    with pytest.raises(ValueError, match="reset position"):
        arm.reset(position=[0.0, 1.0])
    with pytest.raises(AttributeError, match="arm"):
        arm.base_pose()
    with pytest.raises(KeyError, match="no camera"):
        arm.render(camera="nope")
    static = PybulletRobot(
        UR5E, world=WorldLayout(objects=(WorldObject("table", "box", (0.2, 0.2, 0.2), (1, 0, 0.2)),))
    )
    with pytest.raises(ValueError, match="static"):
        static.set_object_pose("table", (1, 1, 0.2))
    static.close()


def test_render_the_overview_and_a_link_camera(tmp_path: Path) -> None:
    camera = {"name": "wrist", "link": "tool0", "width": 64, "height": 48, "fovy_deg": 60.0, "rate_hz": 30.0}
    spec = ur5e_variant(tmp_path, sensors={"cameras": [camera]})
    robot = PybulletRobot(spec, world=WorldLayout(markers=(Marker("goal", 0.05, (0.4, 0.0, 0.3)),)))
    overview = robot.render(width=96, height=64)
    assert overview.shape == (64, 96, 3) and overview.dtype == np.uint8
    assert overview.std() > 5  # a picture, not a blank
    wrist = robot.render(width=64, height=48, camera="wrist")
    assert wrist.shape == (48, 64, 3)
    assert not np.array_equal(wrist, overview[:48, :64])
    robot.close()


def test_close_is_idempotent_and_leaves_a_given_client_connected() -> None:
    client = pybullet.connect(pybullet.DIRECT)
    try:
        robot = PybulletRobot(BURGER, client=client)
        robot.close()
        robot.close()
        assert pybullet.isConnected(client)
        with pytest.raises(RuntimeError, match="closed"):
            robot.write(Command.twist(0.1, 0.0))
    finally:
        pybullet.disconnect(client)
    own = PybulletRobot(BURGER)
    own_client = own.client
    own.close()
    own.close()
    assert not pybullet.isConnected(own_client)
