"""The registered environments on both simulators: API checkers, rendering, seeding, rewards,
safety info, goal frames, per-episode mazes and registration."""

from __future__ import annotations

import math
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import sim.envs
from sim.envs import ENV_IDS, GoalSimEnv, SimEnv, make_env
from tests.sim.helpers import ROBOTS_DIR

BACKENDS = ["mujoco", "pybullet"]
GOAL_ENVS = [ENV_IDS["ArmReach"], ENV_IDS["ArmPush"]]
RANDOMIZATION = {name: ROBOTS_DIR / "randomization" / f"{name}.yaml" for name in ("ur5e", "burger")}


def make(env_id: str, backend: str, **kwargs: Any) -> gym.Env[Any, Any]:
    return gym.make(env_id, backend=backend, **kwargs)


def randomized(env_id: str, backend: str, **kwargs: Any) -> gym.Env[Any, Any]:
    robot = "ur5e" if "Arm" in env_id else "burger"
    return make(env_id, backend, randomization=RANDOMIZATION[robot], **kwargs)


def assert_same(a: Any, b: Any) -> None:
    """Bit-identical observations (arrays or dicts of arrays)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key]), key
    else:
        assert np.array_equal(a, b)


def differ(a: Any, b: Any) -> bool:
    return any(not np.array_equal(a[k], b[k]) for k in a) if isinstance(a, dict) else not np.array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("env_id", list(ENV_IDS.values()))
def test_env_passes_gymnasium_and_sb3_checkers(env_id: str, backend: str) -> None:
    env = make(env_id, backend, render_mode="rgb_array", render_width=64, render_height=48)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gym_check_env(env.unwrapped, skip_render_check=False)
            # SB3's render check closes the env and its NaN check goes on with it: reset rebuilds.
            sb3_check_env(env.unwrapped, warn=True, skip_render_check=False)
        messages = [str(w.message) for w in caught if "gymnasium" in w.filename or "stable_baselines3" in w.filename]
        assert messages == []
        assert isinstance(env.action_space, gym.spaces.Box)
        assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("env_id", list(ENV_IDS.values()))
def test_rgb_array_frames_show_the_scene(env_id: str, backend: str) -> None:
    env = make(env_id, backend, render_mode="rgb_array", render_width=160, render_height=120)
    try:
        env.reset(seed=0)
        frame = env.render()
        assert isinstance(frame, np.ndarray) and frame.shape == (120, 160, 3) and frame.dtype == np.uint8
        # Not blank: several colours and a spread of brightness (robot, walls or table on a floor).
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10
        assert frame.std() > 15
        assert env.metadata["render_fps"] == env.unwrapped.task.policy_rate_hz
    finally:
        env.close()
    plain = make(env_id, backend)
    try:
        first, _ = plain.reset(seed=0)
        with pytest.warns(UserWarning, match="render_mode"):
            assert plain.render() is None
        plain.close()
        with pytest.raises(RuntimeError, match="closed"):
            plain.step(plain.action_space.sample())
        assert_same(plain.reset(seed=0)[0], first)  # a closed env builds its simulator again
    finally:
        plain.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("env_id", list(ENV_IDS.values()))
def test_seeded_resets_and_rollouts_are_bit_identical(env_id: str, backend: str) -> None:
    first, second = randomized(env_id, backend), randomized(env_id, backend)
    try:
        obs_a, info_a = first.reset(seed=7)
        obs_b, info_b = second.reset(seed=7)
        assert_same(obs_a, obs_b)
        assert info_a["dynamics"] == info_b["dynamics"]
        actions = np.random.default_rng(0).uniform(-1, 1, (5, *first.action_space.shape))
        trajectory = []
        for action in actions:
            trajectory.append(first.step(action)[0])
        for action, expected in zip(actions, trajectory, strict=True):
            assert_same(second.step(action)[0], expected)
        # The same instance after an episode: the same episode again.
        obs_again, info_again = first.reset(seed=7)
        assert_same(obs_again, obs_a)
        assert info_again["dynamics"] == info_a["dynamics"]
        for action, expected in zip(actions, trajectory, strict=True):
            assert_same(first.step(action)[0], expected)
        obs_other, info_other = first.reset(seed=8)
        assert differ(obs_other, obs_a)
        assert info_other["dynamics"] != info_a["dynamics"]
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_reports_the_episode_dynamics(backend: str) -> None:
    env = randomized(ENV_IDS["ArmReach"], backend)
    nominal = make(ENV_IDS["ArmReach"], backend)
    try:
        _, info = env.reset(seed=3)
        assert info["dynamics"] == env.unwrapped.sim.dynamics.as_info()
        _, nominal_info = nominal.reset(seed=3)
        assert nominal_info["dynamics"]["kp"] == list(env.unwrapped.robot_spec.sim.kp)
        assert info["dynamics"]["kp"] != nominal_info["dynamics"]["kp"]
        assert 0.8 <= info["dynamics"]["friction_scale"] <= 1.2
    finally:
        env.close()
        nominal.close()
    inline = make(ENV_IDS["BaseExplore"], backend, randomization={"friction_scale": {"uniform": [0.5, 0.6]}})
    try:
        assert 0.5 <= inline.reset(seed=0)[1]["dynamics"]["friction_scale"] <= 0.6
    finally:
        inline.close()
    with pytest.raises(TypeError, match="randomization must be"):
        make(ENV_IDS["BaseExplore"], backend, randomization=0.5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reward_type", ["sparse", "dense"])
@pytest.mark.parametrize("env_id", GOAL_ENVS)
def test_step_reward_is_compute_reward(env_id: str, reward_type: str, backend: str) -> None:
    env = make(env_id, backend, reward_type=reward_type)
    try:
        obs, _ = env.reset(seed=1)
        achieved, desired, rewards, infos = [], [], [], []
        for _ in range(15):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert not terminated
            assert reward == env.unwrapped.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
            distance = np.linalg.norm(obs["achieved_goal"].astype(np.float64) - obs["desired_goal"])
            assert info["is_success"] == (distance <= 0.05)
            assert info["goal_distance_m"] == pytest.approx(distance)
            achieved.append(obs["achieved_goal"])
            desired.append(obs["desired_goal"])
            rewards.append(reward)
            infos.append(info)
        batch = env.unwrapped.compute_reward(np.array(achieved), np.array(desired), np.array(infos))
        np.testing.assert_array_equal(batch, np.array(rewards, dtype=np.float32))
    finally:
        env.close()


def test_greedy_reach_succeeds_and_out_of_range_actions_equal_clipped_ones() -> None:
    env = make(ENV_IDS["ArmReach"], "mujoco")
    try:
        obs, _ = env.reset(seed=5)
        for _ in range(30):
            obs, reward, *_, info = env.step(np.clip((obs["desired_goal"] - obs["achieved_goal"]) / 0.03, -1, 1))
        assert info["is_success"] and reward == 0.0
        env.reset(seed=5)
        clipped = env.step(np.array([1.0, -1.0, 0.5]))[0]
        env.reset(seed=5)
        out_of_range, _, _, _, info = env.step(np.array([40.0, -1e9, 0.5]))
        assert_same(out_of_range, clipped)
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_action_is_rejected_by_the_safety_layer_and_the_arm_holds(backend: str) -> None:
    env = make(ENV_IDS["ArmReach"], backend)
    try:
        env.reset(seed=2)
        before = env.unwrapped.sim.read().position
        _, _, _, _, info = env.step(np.array([np.nan, 0.0, 1.0]))
        assert info["command_nonfinite"] and not info["safety_held"]
        np.testing.assert_allclose(env.unwrapped.sim.read().position, before, atol=2e-3)
        _, _, _, _, info = env.step(np.zeros(3))
        assert not info["command_nonfinite"]
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_navigate_goal_is_given_in_the_odometry_frame(backend: str) -> None:
    env = make(ENV_IDS["BaseNavigate"], backend)
    try:
        for seed in range(3):
            obs, info = env.reset(seed=seed)
            task, world = env.unwrapped.task, env.unwrapped.sim
            pose = world.base_pose()
            offset = task._goal_world - pose.position[:2]
            bearing = math.atan2(offset[1], offset[0]) - pose.yaw_rad
            range_max = task.laser.range_max_m
            # Odometry starts at the start pose, so the goal's odometry coordinates match the world.
            assert obs[-3] * range_max == pytest.approx(info["goal_distance_true_m"], abs=2e-3)
            assert obs[-2] == pytest.approx(math.sin(bearing), abs=1e-2)
            assert obs[-1] == pytest.approx(math.cos(bearing), abs=1e-2)
            start = task.maze.cell_of(*pose.position[:2])
            goal = task.maze.cell_of(*task._goal_world)
            assert task.maze.path_length(start, goal) >= task.min_path_cells
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_explore_reports_ground_truth_coverage(backend: str) -> None:
    env = make(ENV_IDS["BaseExplore"], backend)
    try:
        _, info = env.reset(seed=0)
        maze = env.unwrapped.task.maze
        assert (info["cells_visited"], info["coverage"]) == (1, 1 / maze.num_cells)
        seen = {(0, 0)}
        coverage = [info["coverage"]]
        rng = np.random.default_rng(0)
        for step in range(60):
            action = [1.0, 0.0] if step % 15 else rng.uniform(-1, 1, 2)
            _, reward, _, _, info = env.step(action)
            assert reward == 0.0  # reward-free by default
            x, y = env.unwrapped.sim.base_pose().position[:2]
            seen.add(maze.cell_of(float(x), float(y)))
            coverage.append(info["coverage"])
            assert info["cells_visited"] == len(seen - {None})
        assert np.all(np.diff(coverage) >= 0)
    finally:
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_episode_mazes_follow_the_reset_seed(backend: str) -> None:
    env = make(ENV_IDS["BaseExplore"], backend, maze_seed=None)
    try:
        obs_1, _ = env.reset(seed=1)
        maze_1, sim_1 = env.unwrapped.task.maze, env.unwrapped.sim
        env.reset(seed=2)
        assert env.unwrapped.task.maze != maze_1
        assert env.unwrapped.sim is not sim_1  # rebuilt with the new walls
        obs_again, _ = env.reset(seed=1)
        assert env.unwrapped.task.maze == maze_1
        assert_same(obs_again, obs_1)
    finally:
        env.close()
    fixed = make(ENV_IDS["BaseExplore"], backend, maze_seed=4)
    try:
        fixed.reset(seed=1)
        sim_before = fixed.unwrapped.sim
        fixed.reset(seed=2)
        assert fixed.unwrapped.task.maze.seed == 4 and fixed.unwrapped.sim is sim_before
    finally:
        fixed.close()


def test_registration_is_idempotent_and_picks_the_env_class() -> None:
    before = {env_id: gym.spec(env_id) for env_id in ENV_IDS.values()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is registered twice
        sim.envs.register_envs()
    assert {env_id: gym.spec(env_id) for env_id in ENV_IDS.values()} == before
    assert before[ENV_IDS["ArmReach"]].max_episode_steps == 50
    env = gym.make("sim.envs:sim2real/ArmReach-v0")
    try:
        assert isinstance(env.unwrapped, GoalSimEnv) and env.spec is not None
    finally:
        env.close()
    nav = make_env("BaseNavigate")
    try:
        assert type(nav) is SimEnv and not hasattr(nav, "compute_reward")
    finally:
        nav.close()
    with pytest.raises(ValueError, match="backend 'gazebo'"):
        make_env("ArmReach", backend="gazebo")
    with pytest.raises(TypeError, match="unexpected keyword argument 'maze_seed'"):
        make_env("ArmReach", maze_seed=3)
