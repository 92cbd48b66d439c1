"""The deployment loop: a bundle drives a simulated robot through the safety layer, as on a robot.

No trained policy exists in tests, so these check the loop's mechanics against the training
environment and the safety layer, not success rates.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from numpy.typing import ArrayLike

from hardware.command import Command
from hardware.safety import SafetyLayer
from hardware.spec import RobotSpec
from hardware.state import RobotState
from policies.algorithms import ALGORITHM_CLASSES
from policies.bundle import Bundle, load_bundle
from policies.config import load_config
from policies.deploy import PolicyRunner, run_bundle, run_episode
from policies.environments import make_single_env
from policies.export import export_bundle
from policies.run_folder import RunFolder
from robots import robot_yaml
from sim.backends import make_robot
from sim2real import cli
from tests.policies.test_bundle import NO_BUFFER, build_run


@pytest.fixture(scope="module")
def arm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported SAC ArmReach run (VecNormalize, an action head large enough to move the arm)."""
    config = {
        "algorithm": "SAC",
        "env": {"task": "ArmReach", "kwargs": {"reward_type": "dense"}, "normalize": {"norm_obs": True}},
        "hyperparams": {"buffer_size": 1000, "policy_kwargs": {"net_arch": [32, 32]}},
    }
    run = build_run(tmp_path_factory.mktemp("arm"), config, head_scale=20.0)
    export_bundle(run, parity_count=16)
    return run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported PPO BaseNavigate run (the burger acts every 2 control periods)."""
    config = {"algorithm": "PPO", "env": {"task": "BaseNavigate"}, "hyperparams": {"n_steps": 64, "batch_size": 32}}
    run = build_run(tmp_path_factory.mktemp("base"), config, head_scale=100.0)
    export_bundle(run, parity_count=16)
    return run


def spec_of(name: str) -> RobotSpec:
    return RobotSpec.from_yaml(robot_yaml(name))


def sb3_policy(run: Path) -> Any:
    """observation -> SB3's deterministic action (normalized as VecNormalize does)."""
    folder = RunFolder.at(run)
    algorithm = ALGORITHM_CLASSES[load_config(folder.config).algorithm]
    model = algorithm.load(folder.model, device="cpu", custom_objects=NO_BUFFER)
    normalizer = None
    if folder.vecnormalize.is_file():
        with open(folder.vecnormalize, "rb") as file:  # our own test file
            normalizer = pickle.load(file)

    def act(observation: Any) -> np.ndarray:
        inputs = normalizer.normalize_obs(observation) if normalizer is not None else observation
        return np.asarray(model.predict(inputs, deterministic=True)[0], dtype=np.float64)

    return act


class RecordingRobot:
    """A real simulated robot that also keeps every command it was given (what reached the robot)."""

    def __init__(self, robot: Any) -> None:
        self.inner = robot
        self.written: list[Command] = []
        self.reads = 0

    @property
    def spec(self) -> RobotSpec:
        return self.inner.spec

    def now_ns(self) -> int:
        return int(self.inner.now_ns())

    def read(self) -> RobotState:
        self.reads += 1
        return self.inner.read()

    def write(self, command: Command) -> Command:
        self.written.append(command)
        return self.inner.write(command)

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        return self.inner.reset(seed=seed, position=position)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # the SimWorld side: markers, objects, base pose
        return getattr(self.inner, name)


@pytest.mark.parametrize("backend", ["mujoco", "pybullet"])
def test_each_control_period_goes_through_the_safety_layer_and_acts_on_schedule(base_run: Path, backend: str) -> None:
    burger = spec_of("burger")
    bundle = load_bundle(RunFolder.at(base_run).bundle, burger)
    task = bundle.make_task(burger)
    robot = RecordingRobot(make_robot(burger, backend, world=task.world_layout()))
    runner = PolicyRunner(bundle, robot, task)
    sb3 = sb3_policy(base_run)
    steps, per_action = 6, task.control_steps_per_action
    assert per_action == 2
    state = runner.robot.reset(seed=1)
    task.reset(robot, state, np.random.default_rng(1))
    runner.start()
    ticks = [runner.tick() for _ in range(steps * per_action)]
    robot.close()

    assert len(robot.written) == steps * per_action == runner.counts.writes
    assert [t.acted for t in ticks] == [True, False] * steps
    # What reached the robot is what the safety layer made of the task's command, step by step.
    layer = SafetyLayer(burger)
    layer.reset(ticks[0].state)
    for tick, written in zip(ticks, robot.written, strict=True):
        assert np.array_equal(tick.sent.values, written.values)
        if tick.acted:
            # The action is SB3's for the observation, and the command the task's for the action.
            assert np.abs(tick.action - sb3(tick.observation)).max() <= 1e-5
            wanted = task.command(tick.action, tick.state)
        expected, _ = layer.filter(wanted, tick.state, tick.state.stamp_ns)
        assert np.array_equal(expected.values, written.values)
    # The twist limits and acceleration limits held: the wheels' commands never jumped.
    twists = np.array([c.values for c in robot.written])
    assert np.all(np.abs(twists) <= burger.twist_limit + 1e-12)
    assert np.all(np.abs(np.diff(twists, axis=0)) <= burger.twist_acceleration_limit * burger.control_period_s + 1e-9)
    assert np.abs(twists[:, 0]).max() > 0.01  # the policy did drive


def test_an_episode_repeats_the_training_environment_step_for_step(arm_run: Path) -> None:
    # The deployment loop and SimEnv.step read and write in the same order, so the same seed gives
    # the same episode: the bundle's actions equal SB3's on the training env's observations.
    config = load_config(RunFolder.at(arm_run).config)
    env = make_single_env(config)
    sb3 = sb3_policy(arm_run)
    observation, _ = env.reset(seed=5)
    env_actions, env_rewards = [], []
    for _ in range(12):
        action = sb3(observation)
        observation, reward, *_ = env.step(action)
        env_actions.append(action)
        env_rewards.append(reward)
    env.close()

    ur5e = spec_of("ur5e")
    bundle = load_bundle(RunFolder.at(arm_run).bundle, ur5e)
    task = bundle.make_task(ur5e)
    sim = make_robot(ur5e, "mujoco", world=task.world_layout())
    result = run_episode(PolicyRunner(bundle, sim, task), sim, np.random.default_rng(5), max_steps=12)
    sim.close()
    assert result.steps == 12 and result.safety.writes == 12
    np.testing.assert_allclose(result.actions, np.array(env_actions), atol=1e-4)
    assert result.episode_return == pytest.approx(sum(env_rewards), abs=1e-4)
    assert np.ptp(result.actions, axis=0).max() > 0.1  # the actions changed along the episode


def test_run_bundle_is_deterministic_given_a_seed_on_both_simulators(arm_run: Path, tmp_path: Path) -> None:
    bundle = RunFolder.at(arm_run).bundle
    runs = {
        "first": run_bundle(bundle, "mujoco", episodes=2, seed=3, max_steps=8),
        "again": run_bundle(bundle, "mujoco", episodes=2, seed=3, max_steps=8),
        "other seed": run_bundle(bundle, "mujoco", episodes=2, seed=4, max_steps=8),
        "pybullet": run_bundle(bundle, "pybullet", episodes=1, seed=3, max_steps=8, video=tmp_path / "run.mp4"),
    }
    assert runs["first"] == runs["again"]
    assert runs["first"]["mean_return"] != runs["other seed"]["mean_return"]
    for summary in runs.values():
        assert summary["mean_episode_length"] == 8 and summary["safety"]["writes"] == 8 * summary["episodes"]
        assert summary["robot"] == "ur5e" and summary["task"] == "ArmReach"
        assert np.isfinite(summary["mean_return"]) and summary["continuity_cost"] > 0
    # Same start and goal in both simulators: the returns differ by the physics only.
    first_pybullet, first_mujoco = runs["pybullet"]["episode_results"][0], runs["first"]["episode_results"][0]
    assert first_pybullet["return"] == pytest.approx(first_mujoco["return"], rel=0.2)
    import imageio.v2 as imageio

    with imageio.get_reader(tmp_path / "run.mp4") as reader:
        assert reader.count_frames() == 1 + 8  # the reset, then one frame per policy step


def test_hold_keeps_an_arm_where_it_is(arm_run: Path) -> None:
    ur5e = spec_of("ur5e")
    bundle: Bundle = load_bundle(RunFolder.at(arm_run).bundle, ur5e)
    sim = make_robot(ur5e, "mujoco", world=bundle.make_task().world_layout())
    runner = PolicyRunner(bundle, sim)
    result = run_episode(runner, sim, np.random.default_rng(0), max_steps=5)
    assert result.steps == 5
    target = runner.robot.layer.hold_command().values.copy()
    held = runner.hold()
    assert np.array_equal(held.values, target) and runner.acts_next
    sim.close()


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "run", cli.Command("sim2real.run_cmd", "run"))


@pytest.mark.usefixtures("commands")
def test_cli_run_prints_episodes_and_writes_the_summary(
    base_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = RunFolder.at(base_run).bundle
    argv = ["run", str(bundle), "--episodes", "2", "--max-steps", "4", "--seed", "1", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{bundle} on mujoco, 2 episodes"
    assert printed[1].startswith("  episode 0: return -4.0, success False, 4 steps")
    summary = yaml.safe_load((tmp_path / "run.yaml").read_text())
    assert summary["episodes"] == 2 and summary["safety"]["writes"] == 2 * 4 * 2
    assert [e["steps"] for e in summary["episode_results"]] == [4, 4]
    assert summary["backend"] == "mujoco" and summary["robot"] == "burger"


@pytest.mark.usefixtures("commands")
def test_cli_run_refuses_a_robot_that_does_not_fit(base_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(RunFolder.at(base_run).bundle), "--robot", "ur5e"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "trained for kind base; robot 'ur5e' has arm" in error
