"""Tasks without a simulator: they read RobotState (and object poses as data) only, as the ROS
policy node will. Rewards (vectorised = per sample), action mapping, features, goal frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hardware import LaserScan, Odometry, RobotSpec, RobotState
from sim.tasks import (
    TASKS,
    ArmPush,
    ArmReach,
    BaseExplore,
    BaseNavigate,
    GoalTask,
    JointFeatures,
    make_task,
    relative_goal,
    scan_features,
    twist_command,
)
from sim.tasks.task import unit_action
from sim.world import Pose
from tests.sim.helpers import ROBOTS_DIR

UR5E = RobotSpec.from_yaml(ROBOTS_DIR / "ur5e.yaml")
BURGER = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")


@pytest.fixture(scope="module")
def reach() -> ArmReach:
    return ArmReach(UR5E)


def arm_state(q: np.ndarray, qd: np.ndarray | None = None) -> RobotState:
    return RobotState(0, q, np.zeros(UR5E.dof) if qd is None else qd)


def base_state(x: float = 0.0, y: float = 0.0, yaw: float = 0.0, ranges: np.ndarray | None = None) -> RobotState:
    assert BURGER.sensors.laser is not None
    beams = BURGER.sensors.laser.num_beams
    scan = LaserScan(0, np.full(beams, np.inf) if ranges is None else ranges)
    return RobotState(0, np.zeros(2), odometry=Odometry(x, y, yaw, 0.1, 0.0, -1.0), scan=scan)


# GoalTask.compute_reward, which reach and push share (module level: hypothesis reuses them).
REWARD_TASKS: dict[str, GoalTask] = {kind: ArmReach(UR5E, reward_type=kind) for kind in ("sparse", "dense")}
goals = arrays(np.float32, (7, 3), elements=st.floats(-1.5, 1.5, width=32))


@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
@given(achieved=goals, desired=goals)
def test_compute_reward_batched_equals_per_sample(reward_type: str, achieved: np.ndarray, desired: np.ndarray) -> None:
    task = REWARD_TASKS[reward_type]
    batch = task.compute_reward(achieved, desired, [{}] * 7)
    assert batch.shape == (7,)
    singles = [task.compute_reward(a, d, {}) for a, d in zip(achieved, desired, strict=True)]
    assert all(isinstance(r, float) for r in singles)
    np.testing.assert_array_equal(batch, np.array(singles, dtype=np.float32))
    distance = np.linalg.norm(achieved.astype(np.float64) - desired, axis=-1)
    expected = -(distance > 0.05).astype(float) if reward_type == "sparse" else -distance
    np.testing.assert_allclose(batch, expected, rtol=1e-6, atol=1e-7)
    # HER's buffer calls it with a (batch, envs) layout too.
    grid = task.compute_reward(achieved.reshape(7, 1, 3), desired.reshape(7, 1, 3), None)
    np.testing.assert_array_equal(grid.reshape(7), batch)


def test_sparse_reward_threshold_is_inclusive_like_success(reach: ArmReach) -> None:
    goal = np.array([0.5, 0.1, 0.4])
    reach.set_goal(goal)
    inside = {"achieved_goal": goal + [0.049, 0, 0], "desired_goal": goal}
    outside = {"achieved_goal": goal + [0.051, 0, 0], "desired_goal": goal}
    assert reach.evaluate(inside, arm_state(UR5E.home_position)).reward == 0.0
    assert reach.evaluate(inside, arm_state(UR5E.home_position)).info["is_success"]
    assert reach.evaluate(outside, arm_state(UR5E.home_position)).reward == -1.0


def test_unit_action_clips_finite_values_and_keeps_nan() -> None:
    out = unit_action([3.0, -7.0, 0.25, np.nan], 4)
    np.testing.assert_array_equal(out[:3], [1.0, -1.0, 0.25])
    assert np.isnan(out[3])
    with pytest.raises(ValueError, match="must have 3 values"):
        unit_action([0.0, 1.0], 3)


def test_ee_delta_zero_action_holds_and_axis_action_moves_that_axis(reach: ArmReach) -> None:
    q = UR5E.home_position + np.array([0.1, -0.1, 0.1, 0.0, 0.05, 0.0])
    state = arm_state(q)
    hold = reach.command(np.zeros(3), state)
    assert hold.interface == "position"
    start = reach.kinematics.forward(q).position
    np.testing.assert_allclose(reach.kinematics.forward(hold.values).position, start, atol=2e-3)
    for axis in range(3):
        action = np.zeros(3)
        action[axis] = 5.0  # out of range: clipped to 1, i.e. max_ee_step_m
        moved = reach.kinematics.forward(reach.command(action, state).values).position - start
        assert moved[axis] == pytest.approx(reach.actions.max_ee_step_m, abs=3e-3)
        assert np.abs(np.delete(moved, axis)).max() < 3e-3


def test_ee_targets_stay_in_the_workspace_box(reach: ArmReach) -> None:
    # Pushing down and back for longer than the box is deep stops at its floor and back wall.
    q = UR5E.home_position.copy()
    for _ in range(40):
        q = reach.command([-1.0, 0.0, -1.0], arm_state(q)).values
    ee = reach.kinematics.forward(q).position
    low = reach.actions.workspace_low
    np.testing.assert_allclose(ee[[0, 2]], low[[0, 2]], atol=2e-3)
    assert ee[1] == pytest.approx(reach.home_ee[1], abs=2e-3)


def test_joint_delta_and_nonfinite_actions() -> None:
    task = ArmReach(UR5E, action_type="joint_delta", max_joint_step_rad=0.2)
    assert task.action_space.shape == (UR5E.dof,)
    q = UR5E.home_position.copy()
    q[2] = UR5E.position_upper[2] - 0.05
    action = np.zeros(UR5E.dof)
    action[0], action[2] = -0.5, 1.0
    target = task.command(action, arm_state(q)).values
    assert target[0] == pytest.approx(q[0] - 0.1)
    assert target[2] == UR5E.position_upper[2]  # clipped at the limit
    bad = task.command(np.full(UR5E.dof, np.nan), arm_state(q))
    assert bad.values.shape == (UR5E.dof,) and np.all(np.isnan(bad.values))
    assert np.all(np.isnan(ArmReach(UR5E).command([0.0, np.inf, 0.0], arm_state(q)).values))


def test_joint_features_are_zero_at_home_and_inside_their_bounds() -> None:
    joint_features = JointFeatures(UR5E)
    np.testing.assert_array_equal(joint_features(arm_state(UR5E.home_position)), np.zeros(2 * UR5E.dof))
    low, high = joint_features.low, joint_features.high
    extreme = arm_state(UR5E.position_upper.copy(), 10 * UR5E.max_velocity)
    features = joint_features(extreme)
    assert np.all(features >= low) and np.all(features <= high)
    np.testing.assert_allclose(features[: UR5E.dof], (UR5E.position_upper - UR5E.home_position) / math.pi)
    assert np.all(features[UR5E.dof :] == 2.0)
    # Continuous joints (the burger's wheels) read their offset wrapped to half a turn either way.
    wheels = JointFeatures(BURGER)
    wrapped = wheels(RobotState(0, [1.5 * math.pi + 4 * math.pi, -0.25 * math.pi], [0.0, 0.0]))
    np.testing.assert_allclose(wrapped[:2], [-0.5, -0.25], atol=1e-12)
    assert list(wheels.low[:2]) == [-1.0, -1.0] and list(wheels.high[:2]) == [1.0, 1.0]


def test_reach_observation_layout(reach: ArmReach) -> None:
    reach.set_goal([0.4, 0.2, 0.3])
    q = UR5E.home_position + 0.1
    obs = reach.observe(arm_state(q, np.full(UR5E.dof, 0.5)))
    assert isinstance(obs, dict) and reach.observation_space.contains(obs)
    ee = reach.kinematics.forward(q).position.astype(np.float32)
    np.testing.assert_array_equal(obs["achieved_goal"], ee)
    np.testing.assert_array_equal(obs["observation"][-3:], ee)
    np.testing.assert_array_equal(obs["desired_goal"], np.float32([0.4, 0.2, 0.3]))
    np.testing.assert_allclose(obs["observation"][UR5E.dof : 2 * UR5E.dof], 0.5 / UR5E.max_velocity, rtol=1e-6)


def test_push_observes_the_block_pose_given_as_data() -> None:
    push = ArmPush(UR5E)
    push.set_goal([0.5, 0.1, push.block_rest_z])
    state = arm_state(UR5E.home_position)
    with pytest.raises(KeyError, match="block"):
        push.observe(state)
    yaw = 0.3
    pose = Pose(np.array([0.6, 0.0, push.block_rest_z]), np.array([math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]))
    obs = push.observe(state, {"block": pose})
    assert isinstance(obs, dict) and push.observation_space.contains(obs)
    np.testing.assert_array_equal(obs["achieved_goal"], pose.position.astype(np.float32))
    block_minus_ee = obs["observation"][-5:-2]
    np.testing.assert_allclose(block_minus_ee, pose.position - push.home_ee, atol=1e-6)
    np.testing.assert_allclose(obs["observation"][-2:], [math.sin(4 * yaw), math.cos(4 * yaw)], atol=1e-6)
    # The table is below the home end effector by table_drop_m, the block rests on it.
    assert push.table_top_m == pytest.approx(push.home_ee[2] - 0.19)
    table = push.world_layout().object("table")
    assert table.position[2] + table.size[2] == pytest.approx(push.table_top_m)


def test_scan_features_min_pool_and_normalise() -> None:
    laser = BURGER.sensors.laser
    assert laser is not None
    ranges = np.full(laser.num_beams, np.inf)
    ranges[3] = 0.7  # sector 0 (beams 0-14 of 360 in 24 sectors)
    ranges[20] = 5.0  # beyond range_max: clipped
    ranges[30] = np.nan
    features = scan_features(laser, base_state(ranges=ranges), 24)
    assert features.shape == (24,)
    assert features[0] == pytest.approx(0.7 / laser.range_max_m)
    np.testing.assert_array_equal(features[1:], 1.0)
    with pytest.raises(ValueError, match="scan_sectors"):
        scan_features(laser, base_state(), 361)


@given(
    x=st.floats(-3, 3),
    y=st.floats(-3, 3),
    yaw=st.floats(-math.pi, math.pi),
    gx=st.floats(-3, 3),
    gy=st.floats(-3, 3),
)
def test_relative_goal_is_the_goal_in_the_body_frame(x: float, y: float, yaw: float, gx: float, gy: float) -> None:
    distance, bearing = relative_goal(base_state(x, y, yaw), [gx, gy])
    assert distance == pytest.approx(math.hypot(gx - x, gy - y), abs=1e-9)
    if distance > 1e-6:
        # Walking `distance` along heading + bearing from the base lands on the goal.
        heading = yaw + bearing
        assert x + distance * math.cos(heading) == pytest.approx(gx, abs=1e-6)
        assert y + distance * math.sin(heading) == pytest.approx(gy, abs=1e-6)


def test_twist_command_scales_to_the_base_limits() -> None:
    command = twist_command(BURGER, [0.5, -2.0])
    np.testing.assert_allclose(command.values, [0.5 * 0.22, 0.0, -2.84])
    assert np.isnan(twist_command(BURGER, [np.nan, 0.0]).values[0])


def test_navigate_reward_success_and_collision_penalty() -> None:
    task = BaseNavigate(BURGER, collision_penalty=0.5)
    task.set_goal([1.0, 0.0])
    far = base_state(0.0, 0.0)
    outcome = task.evaluate(task.observe(far), far)
    assert (outcome.reward, outcome.terminated, outcome.info["is_success"]) == (-1.0, False, False)
    obs = task.observe(far)
    assert task.observation_space.contains(obs)
    np.testing.assert_allclose(obs[-3:], [1.0 / 3.5, 0.0, 1.0], atol=1e-6)
    near = base_state(0.9, 0.0)
    outcome = task.evaluate(task.observe(near), near)
    assert (outcome.reward, outcome.terminated, outcome.info["is_success"]) == (0.0, True, True)
    ranges = np.full(360, np.inf)
    ranges[90] = 0.13
    close = base_state(0.0, 0.0, ranges=ranges)
    outcome = task.evaluate(task.observe(close), close)
    assert outcome.reward == -1.5 and outcome.info["collision"]
    assert outcome.info["reward_terms"] == {"success": -1.0, "collision": -0.5}


def test_navigate_dense_reward_is_minus_the_distance_and_zero_on_arrival() -> None:
    task = BaseNavigate(BURGER, reward_type="dense")
    task.set_goal([1.0, 0.0])
    rewards = [task.evaluate(task.observe(s), s).reward for s in (base_state(x, 0.0) for x in (0.0, 0.5, 0.9))]
    assert rewards == pytest.approx([-1.0, -0.5, 0.0])
    with pytest.raises(ValueError, match="reward_type"):
        BaseNavigate(BURGER, reward_type="shaped")


def test_explore_sparse_reward_counts_new_odometry_squares_once() -> None:
    task = BaseExplore(BURGER, reward_type="sparse")
    task.begin(base_state(0.0, 0.0))
    path = [(0.1, 0.0), (0.35, 0.0), (0.5, 0.1), (0.1, 0.0), (0.6, 0.7), (0.0, -0.4)]
    rewards = [task.evaluate(task.observe(s), s).reward for s in (base_state(x, y) for x, y in path)]
    assert rewards == [0.0, 1.0, 0.0, 0.0, 1.0, 1.0]
    free = BaseExplore(BURGER)
    free.begin(base_state())
    assert free.evaluate(free.observe(base_state(1.0, 1.0)), base_state(1.0, 1.0)).reward == 0.0


def test_per_episode_mazes_are_drawn_from_the_generator() -> None:
    fixed = BaseNavigate(BURGER, maze_seed=3)
    assert not fixed.resample_world(np.random.default_rng(0))
    assert fixed.maze.seed == 3
    drawn = BaseExplore(BURGER, maze_seed=None)
    assert drawn.resample_world(np.random.default_rng(1))
    first = drawn.maze
    drawn.resample_world(np.random.default_rng(1))
    assert drawn.maze == first
    drawn.resample_world(np.random.default_rng(2))
    assert drawn.maze != first


def test_make_task_and_errors() -> None:
    assert set(TASKS) == {"ArmReach", "ArmPush", "BaseNavigate", "BaseExplore"}
    assert isinstance(make_task("BaseExplore", BURGER), BaseExplore)
    with pytest.raises(ValueError, match="no task 'Fly'"):
        make_task("Fly", BURGER)
    with pytest.raises(ValueError, match="twist commands"):
        BaseNavigate(UR5E)
    with pytest.raises(ValueError, match="no end effector"):
        ArmReach(BURGER)
    with pytest.raises(ValueError, match="reward_type"):
        ArmReach(UR5E, reward_type="shaped")
    with pytest.raises(ValueError, match="action_type"):
        ArmPush(UR5E, action_type="torque")
    with pytest.raises(RuntimeError, match="no goal yet"):
        ArmReach(UR5E).observe(arm_state(UR5E.home_position))
