"""The simulated driver's decisions, without ROS: trajectories, forward commands, cmd_vel
timeout, latency, bad commands, on a real MuJoCo robot."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

import robots
from hardware.spec import RobotSpec
from sim.mujoco_robot import MujocoRobot
from sim2real_ros.sim_driver import (
    AUTO_RATE_HZ,
    CommandRejected,
    DelayQueue,
    SimDriver,
    Trajectory,
    driver_spec,
    task_world,
)

ARM_RATE_HZ = 100.0
BASE_RATE_HZ = 50.0


@pytest.fixture(scope="module")
def ur5e() -> RobotSpec:
    return driver_spec(RobotSpec.from_yaml(robots.robot_yaml("ur5e")), ARM_RATE_HZ)


@pytest.fixture(scope="module")
def burger() -> RobotSpec:
    return driver_spec(RobotSpec.from_yaml(robots.robot_yaml("burger")), BASE_RATE_HZ)


@pytest.fixture
def arm(ur5e: RobotSpec) -> Iterator[SimDriver]:
    driver = SimDriver(MujocoRobot(ur5e))
    yield driver
    driver.close()


def steps(driver: SimDriver, n: int) -> None:
    for _ in range(n):
        driver.step()


def target_of(spec: RobotSpec) -> np.ndarray:
    """Home moved by 0.4 rad on the first three joints (a reachable, collision-free pose)."""
    return spec.home_position + np.array([0.4, 0.4, -0.4, 0.0, 0.0, 0.0])


# --- rates and worlds ------------------------------------------------------------------------


def test_driver_spec_picks_automatic_rates_and_refuses_rates_off_the_physics_grid() -> None:
    nominal = RobotSpec.from_yaml(robots.robot_yaml("ur5e"))
    assert driver_spec(nominal, 0.0).control_rate_hz == AUTO_RATE_HZ["arm"] == 100.0
    assert driver_spec(nominal, 250.0).control_rate_hz == 250.0
    with pytest.raises(ValueError, match=r"rate_hz 30: .* not a multiple of the physics timestep 2 ms"):
        driver_spec(nominal, 30.0)
    with pytest.raises(ValueError, match="rate_hz must be > 0"):
        driver_spec(nominal, -5.0)
    assert driver_spec(RobotSpec.from_yaml(robots.robot_yaml("burger")), 0.0).control_rate_hz == 50.0


def test_task_world_builds_the_maze_and_refuses_bad_settings(burger: RobotSpec) -> None:
    assert task_world(burger).objects == ()
    maze = task_world(burger, task="BaseNavigate", task_kwargs={"maze_seed": 3})
    assert len(maze.objects) > 4  # outer walls and inner ones
    with pytest.raises(ValueError, match="bad task_kwargs"):
        task_world(burger, task="BaseNavigate", task_kwargs={"no_such_setting": 1})
    with pytest.raises(ValueError, match="no task 'Nope'"):
        task_world(burger, task="Nope")
    with pytest.raises(ValueError, match="not both"):
        task_world(burger, bundle="/tmp/x", task="BaseNavigate")


# --- trajectories ----------------------------------------------------------------------------


def test_trajectory_interpolates_linearly_then_holds_the_last_point(arm: SimDriver) -> None:
    spec = arm.spec
    start, target = spec.home_position.copy(), target_of(spec)
    arm.command_trajectory(spec.joint_names, [(1.0, target)])
    steps(arm, 50)  # 0.5 s: the last target written is for the end of the step, t = 0.5 s
    np.testing.assert_allclose(arm.reference, start + 0.5 * (target - start), atol=1e-9)
    steps(arm, 25)
    np.testing.assert_allclose(arm.reference, start + 0.75 * (target - start), atol=1e-9)
    steps(arm, 75)  # 1.5 s: held at the end
    np.testing.assert_allclose(arm.reference, target, atol=1e-12)
    # The simulated servo follows: the arm is there.
    np.testing.assert_allclose(arm.state.position, target, atol=0.01)


def test_trajectory_matches_joints_by_name(ur5e: RobotSpec) -> None:
    target = target_of(ur5e)
    in_order, reversed_names = SimDriver(MujocoRobot(ur5e)), SimDriver(MujocoRobot(ur5e))
    in_order.command_trajectory(ur5e.joint_names, [(0.3, target)])
    reversed_names.command_trajectory(ur5e.joint_names[::-1], [(0.3, target[::-1])])
    for _ in range(20):
        in_order.step()
        reversed_names.step()
        np.testing.assert_array_equal(in_order.reference, reversed_names.reference)
    np.testing.assert_allclose(reversed_names.reference, ur5e.home_position + (target - ur5e.home_position) * 2 / 3)


def test_a_new_trajectory_replaces_the_old_from_where_its_reference_is(arm: SimDriver) -> None:
    spec = arm.spec
    start, first, second = spec.home_position.copy(), target_of(spec), spec.home_position - 0.2
    arm.command_trajectory(spec.joint_names, [(1.0, first)])
    steps(arm, 50)
    halfway = start + 0.5 * (first - start)
    arm.command_trajectory(spec.joint_names, [(0.5, second)])
    steps(arm, 25)  # half of the new one
    np.testing.assert_allclose(arm.reference, halfway + 0.5 * (second - halfway), atol=1e-9)
    steps(arm, 50)
    np.testing.assert_allclose(arm.reference, second, atol=1e-12)


def test_multi_point_trajectory_and_a_delayed_start(arm: SimDriver) -> None:
    spec = arm.spec
    start, a = spec.home_position.copy(), target_of(spec)
    b = a + 0.2
    # Starts 0.2 s from now: held until then, then a at 0.4 s, b at 0.6 s.
    arm.command_trajectory(spec.joint_names, [(0.2, a), (0.4, b)], start_s=arm.time_s + 0.2)
    steps(arm, 20)
    np.testing.assert_allclose(arm.reference, start, atol=1e-12)
    steps(arm, 30)  # t = 0.5: halfway from a to b
    np.testing.assert_allclose(arm.reference, (a + b) / 2, atol=1e-9)
    steps(arm, 20)
    np.testing.assert_allclose(arm.reference, b, atol=1e-12)


def test_trajectory_sampling_handles_a_point_at_time_zero() -> None:
    trajectory = Trajectory(1.0, np.zeros(2), [(0.0, np.ones(2)), (1.0, np.full(2, 3.0))])
    np.testing.assert_array_equal(trajectory.sample(0.5), [0.0, 0.0])
    np.testing.assert_allclose(trajectory.sample(1.0 + 1e-9), np.ones(2), atol=1e-8)  # jumped to the point
    np.testing.assert_allclose(trajectory.sample(1.5), [2.0, 2.0])
    np.testing.assert_array_equal(trajectory.sample(9.0), [3.0, 3.0])
    assert trajectory.end_s == 2.0


# --- forward commands, latency ---------------------------------------------------------------


def test_forward_command_jumps_to_the_target_and_keeps_it(arm: SimDriver) -> None:
    target = target_of(arm.spec)
    arm.command_forward(target)
    arm.step()
    np.testing.assert_array_equal(arm.last_command.values, target)
    steps(arm, 100)
    np.testing.assert_array_equal(arm.last_command.values, target)
    np.testing.assert_allclose(arm.state.position, target, atol=0.01)


def test_command_latency_delays_the_effect_by_the_configured_time(ur5e: RobotSpec) -> None:
    driver = SimDriver(MujocoRobot(ur5e), command_latency_s=0.1)
    target = target_of(ur5e)
    sent_at = driver.time_s
    driver.command_forward(target)
    applied_at = None
    for _ in range(30):
        driver.step()
        if applied_at is None and np.array_equal(driver.last_command.values, target):
            applied_at = driver.time_s - driver.period_s  # the step that applied it started here
    assert applied_at is not None
    assert applied_at - sent_at == pytest.approx(0.1, abs=1e-9)


def test_jitter_adds_a_uniform_delay_and_never_reorders() -> None:
    sparse: DelayQueue[int] = DelayQueue(0.05, 0.05, np.random.default_rng(0))
    sent = np.arange(200) * 0.2  # further apart than the jitter: delays are independent draws
    delays = np.array([sparse.push(i, now_s=t) for i, t in enumerate(sent)]) - sent
    assert np.all(delays >= 0.05) and np.all(delays <= 0.1)
    assert delays.std() == pytest.approx(0.05 / math.sqrt(12), rel=0.2)  # uniform over 0.05 s
    dense: DelayQueue[int] = DelayQueue(0.05, 0.05, np.random.default_rng(0))
    dues = [dense.push(i, now_s=i * 0.001) for i in range(200)]
    assert np.all(np.diff(dues) >= 0)  # a later command is never released before an earlier one
    assert dense.pop_due(0.1) == list(range(len([d for d in dues if d <= 0.1])))
    assert dense.pop_due(1.0)[-1] == 199 and len(dense) == 0


# --- bases: cmd_vel timeout, initial pose ----------------------------------------------------


def test_cmd_vel_times_out_to_zero_twist(burger: RobotSpec) -> None:
    driver = SimDriver(MujocoRobot(burger), cmd_vel_timeout_s=0.5)
    driver.command_twist([0.2, 0.0, 0.0])
    twists = []
    for _ in range(40):  # 0.8 s
        start_s = driver.time_s
        driver.step()
        twists.append((start_s, driver.last_command.values[0]))
    moving = [t for t, v in twists if v == pytest.approx(0.2)]
    assert moving[0] == 0.0 and moving[-1] == pytest.approx(0.5)  # fresh up to the timeout
    assert all(v == 0.0 for t, v in twists if t > 0.5 + 1e-9)
    assert driver.state.odometry.x_m > 0.06
    steps(driver, 15)  # the wheels' servos stop the base quickly
    assert abs(driver.state.odometry.linear_x_mps) < 0.01


def test_initial_pose_places_the_base_and_reset_restores_it(burger: RobotSpec) -> None:
    driver = SimDriver(MujocoRobot(burger), initial_pose=[0.1, -0.2, math.pi / 2])
    pose = driver.robot.base_pose()
    np.testing.assert_allclose(pose.position[:2], [0.1, -0.2], atol=1e-6)
    assert pose.yaw_rad == pytest.approx(math.pi / 2, abs=1e-6)
    driver.command_twist([0.2, 0.0, 0.0])
    steps(driver, 25)
    assert driver.robot.base_pose().position[1] > -0.2 + 0.05  # facing +y: it drove along +y
    time_before = driver.time_s
    driver.reset()
    np.testing.assert_allclose(driver.robot.base_pose().position[:2], [0.1, -0.2], atol=1e-6)
    assert driver.state.odometry.x_m == 0.0
    driver.step()
    assert driver.last_command.values[0] == 0.0  # the old twist is gone
    assert driver.time_s > time_before  # driver time never goes back


def test_reset_returns_the_arm_to_its_initial_position(ur5e: RobotSpec) -> None:
    initial = ur5e.home_position + 0.1
    driver = SimDriver(MujocoRobot(ur5e), initial_position=initial)
    np.testing.assert_allclose(driver.state.position, initial, atol=1e-9)
    driver.command_forward(target_of(ur5e))
    steps(driver, 50)
    driver.reset()
    driver.step()
    np.testing.assert_allclose(driver.reference, initial)
    np.testing.assert_allclose(driver.state.position, initial, atol=0.005)


# --- bad commands ----------------------------------------------------------------------------


def test_bad_commands_are_rejected_with_a_clear_error(arm: SimDriver, burger: RobotSpec) -> None:
    spec = arm.spec
    names, home = list(spec.joint_names), spec.home_position
    with pytest.raises(CommandRejected, match=r"command has 5 values, expected 6 \(joints shoulder_pan_joint"):
        arm.command_forward(home[:5])
    with pytest.raises(CommandRejected, match="non-finite"):
        arm.command_forward([*home[:5], math.nan])
    with pytest.raises(CommandRejected, match=r"unknown: \['gripper'\]"):
        arm.command_trajectory([*names[:5], "gripper"], [(1.0, home)])
    with pytest.raises(CommandRejected, match=r"missing: \['wrist_3_joint'\]"):
        arm.command_trajectory(names[:5], [(1.0, home[:5])])
    with pytest.raises(CommandRejected, match="point 1 has 5 positions for 6 joints"):
        arm.command_trajectory(names, [(1.0, home), (2.0, home[:5])])
    with pytest.raises(CommandRejected, match="point 0 has non-finite"):
        arm.command_trajectory(names, [(1.0, [math.inf, *home[1:]])])
    with pytest.raises(CommandRejected, match="point 1: time_from_start 1.0 s must be >= 0 and after"):
        arm.command_trajectory(names, [(1.0, home), (1.0, home)])
    with pytest.raises(CommandRejected, match="it takes joint commands, not twists"):
        arm.command_twist([0.1, 0.0, 0.0])
    base = SimDriver(MujocoRobot(burger))
    with pytest.raises(CommandRejected, match="twist must be 3 finite values"):
        base.command_twist([0.1, math.nan, 0.0])
    with pytest.raises(CommandRejected, match="is a base"):
        base.command_forward([0.0, 0.0])
    # Nothing was queued: the arm holds home.
    arm.step()
    np.testing.assert_array_equal(arm.last_command.values, home)


def test_constructor_refuses_initial_states_that_do_not_fit(ur5e: RobotSpec, burger: RobotSpec) -> None:
    with pytest.raises(ValueError, match="initial_position has 2 values, 'ur5e' has 6 joints"):
        SimDriver(MujocoRobot(ur5e), initial_position=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"initial_pose is \[x_m, y_m, yaw_rad\] for bases"):
        SimDriver(MujocoRobot(burger), initial_pose=[0.0, 0.0])


def test_a_bundle_that_does_not_exist_is_named(burger: RobotSpec, tmp_path: Path) -> None:
    from policies.bundle import BundleError

    (tmp_path / "bundle.yaml").write_text(yaml.safe_dump({"format": "nope"}))
    with pytest.raises(BundleError, match=str(tmp_path)):
        task_world(burger, bundle=tmp_path)


def test_a_bundle_brings_its_tasks_world(tmp_path: Path) -> None:
    from sim.tasks import make_task
    from tests.ros.bundles import untrained_bundle

    bundle = untrained_bundle(tmp_path, "BaseNavigate", rows=1, cols=2, min_path_cells=1, maze_seed=4)
    nominal = RobotSpec.from_yaml(robots.robot_yaml("burger"))  # the bundle's rate, not the driver's
    world = task_world(nominal, bundle=bundle)
    assert world == make_task("BaseNavigate", nominal, rows=1, cols=2, min_path_cells=1, maze_seed=4).world_layout()
    assert world != task_world(nominal, task="BaseNavigate")  # the bundle's settings, not the defaults
