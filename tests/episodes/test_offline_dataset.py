"""Offline evaluation and dataset export on a recorded MuJoCo run of a real (untrained) policy bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.logger import configure

from episodes.dataset import DatasetError, export_dataset, load_into_replay_buffer, load_transitions
from episodes.offline import OfflineEvaluationError, evaluate_offline
from episodes.recording import EpisodeRecorder
from hardware import RobotSpec
from policies.bundle import load_bundle
from policies.deploy import PolicyRunner
from robots import robot_yaml
from sim.backends import make_robot
from sim.tasks import flat_observation
from tests.policies.test_bundle import build_run
from tests.ros.bundles import untrained_bundle

STEPS = 12  # policy steps per episode
OUTCOMES = ("success", "timeout")


@pytest.fixture(scope="module")
def spec() -> RobotSpec:
    return RobotSpec.from_yaml(robot_yaml("ur5e"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, spec: RobotSpec) -> tuple[Path, Path, Path]:
    """A bag of two ArmReach episodes driven by bundle A in MuJoCo; bundles A and B (another network)."""
    root = tmp_path_factory.mktemp("offline")
    bundle_a = untrained_bundle(root / "a", "ArmReach")
    config = {"algorithm": "SAC", "env": {"task": "ArmReach"}, "budget": {"total_timesteps": 100}, "seed": 5}
    config["hyperparams"] = {"policy_kwargs": {"net_arch": [32, 32]}}
    from policies.export import export_bundle

    bundle_b = export_bundle(build_run(root / "b" / "run", config, head_scale=3.0), root / "b" / "bundle")
    bag = root / "bag"
    loaded = load_bundle(bundle_a, spec)
    task = loaded.make_task(spec)
    sim = make_robot(spec, "mujoco", world=task.world_layout())
    runner = PolicyRunner(loaded, sim, task)
    rng = np.random.default_rng(0)
    with EpisodeRecorder(bag, spec, time_origin_ns=1_700_000_000_000_000_000) as rec:
        for outcome in OUTCOMES:
            state = runner.robot.reset(seed=int(rng.integers(1000)))
            task.reset(sim, state, rng)
            runner.start()
            rec.start_episode(state.stamp_ns)
            for _ in range(STEPS):
                for _ in range(task.control_steps_per_action):
                    tick = runner.tick()
                    rec.write_state(tick.state)
                    rec.write_command(tick.sent, tick.state.stamp_ns)
                    if tick.acted:
                        rec.write_observation(flat_observation(tick.observation)[0],
                                              tick.state.stamp_ns)  # fmt: skip
                        rec.write_action(tick.action, tick.state.stamp_ns)
                state = runner.robot.read()
                rec.write_reward(float(task.evaluate(task.observe(state), state).reward), state.stamp_ns)
            rec.end_episode(state.stamp_ns, outcome)
    runner.robot.close()
    return bag, bundle_a, bundle_b


def test_offline_evaluation_same_bundle_zero_other_nonzero(run: tuple[Path, Path, Path], spec: RobotSpec,
                                                           tmp_path: Path) -> None:  # fmt: skip
    bag, bundle_a, bundle_b = run
    same = evaluate_offline(bag, bundle_a, spec, out=tmp_path)
    assert same["episodes"] == 2 and same["steps"] == 2 * STEPS
    assert same["max"] < 1e-5 and same["rmse"] < 1e-5
    assert len(same["per_dimension"]) == 3
    png = Path(same["plot"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    other = evaluate_offline(bag, bundle_b, spec)
    assert other["mae"] > 0.05 and other["plot"] is None
    assert all(d["max"] >= d["rmse"] >= d["mae"] > 0 for d in other["per_dimension"])
    # Logged actions without observations or actions: a one-line error, not a traceback.
    empty = tmp_path / "states_only"
    with EpisodeRecorder(empty, spec) as rec:
        rec.write_state(make_robot(spec, "mujoco").read())
    with pytest.raises(OfflineEvaluationError, match="no logged actions"):
        evaluate_offline(empty, bundle_a, spec)
    actions_only = tmp_path / "actions_only"
    with EpisodeRecorder(actions_only, spec) as rec:
        rec.write_state(make_robot(spec, "mujoco").read())
        rec.write_action(np.zeros(3), 0)
    with pytest.raises(OfflineEvaluationError, match="needs a goal"):  # observations cannot be rebuilt
        evaluate_offline(actions_only, bundle_a, spec)
    with pytest.raises(DatasetError, match="no episode"):
        export_dataset(empty, spec, tmp_path / "none.npz")


def test_dataset_shapes_and_sac_trains_from_replay_buffer(run: tuple[Path, Path, Path], spec: RobotSpec,
                                                          tmp_path: Path) -> None:  # fmt: skip
    bag, bundle_a, _ = run
    flat = load_transitions(export_dataset(bag, spec, tmp_path / "flat"))
    # success: all STEPS steps, the last terminal; timeout: the last step has no next observation.
    assert flat["obs"].shape[0] == flat["actions"].shape[0] == 2 * STEPS - 1
    assert flat["actions"].shape[1] == 3 and flat["rewards"].shape == (2 * STEPS - 1,)
    assert flat["terminated"].sum() == 1 and flat["terminated"][STEPS - 1]
    assert list(np.unique(flat["episode"])) == [0, 1]
    np.testing.assert_array_equal(flat["next_obs"][: STEPS - 2], flat["obs"][1 : STEPS - 1])

    path = export_dataset(bag, spec, tmp_path / "dict.npz", bundle=bundle_a)
    data = load_transitions(path)
    assert sorted(data["obs"]) == ["achieved_goal", "desired_goal", "observation"]
    assert data["obs"]["desired_goal"].shape == (2 * STEPS - 1, 3)

    task = load_bundle(bundle_a, spec).make_task(spec)
    buffer = DictReplayBuffer(100, task.observation_space, task.action_space, device="cpu")
    assert load_into_replay_buffer(path, buffer) == 2 * STEPS - 1
    assert buffer.size() == 2 * STEPS - 1
    with pytest.raises(DatasetError, match="dict"):
        load_into_replay_buffer(path, ReplayBuffer(100, task.observation_space["observation"], task.action_space))

    import gymnasium as gym

    class Logged(gym.Env):  # only the spaces: SAC trains from the buffer, never steps it
        observation_space = task.observation_space
        action_space = task.action_space

    model = SAC("MultiInputPolicy", Logged(), buffer_size=100, batch_size=8, learning_starts=0, device="cpu", seed=0)
    model.replay_buffer = buffer
    model.set_logger(configure(None, []))
    before = [p.detach().clone() for p in model.critic.parameters()]
    model.train(gradient_steps=10, batch_size=8)
    assert model._n_updates == 10
    after = [p.detach().numpy() for p in model.critic.parameters()]
    assert any(not np.allclose(a.numpy(), b) for a, b in zip(before, after, strict=True))


def test_replay_cli_policy_and_export(run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """``sim2real replay --policy`` and ``--export-dataset`` end to end (the robot from the bag)."""
    import subprocess
    import sys

    import yaml

    bag, bundle_a, _ = run

    def replay(*args: str | Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sim2real", "replay", str(bag), *map(str, args), "--out", str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])

    policy = replay("--policy", bundle_a)
    assert policy.returncode == 0, policy.stderr
    summary = yaml.safe_load((tmp_path / "offline.yaml").read_text())
    assert summary["steps"] == 2 * STEPS and summary["rmse"] < 1e-5
    assert "a[2]: mae" in policy.stdout and (tmp_path / "offline_actions.png").stat().st_size > 5000
    export = replay("--export-dataset", "--bundle", bundle_a)
    assert export.returncode == 0, export.stderr
    assert f"{2 * STEPS - 1} transitions from 2 episodes (1 terminal)" in export.stdout
    assert "obs.desired_goal (23, 3)" in export.stdout
    wrong = replay("--policy", tmp_path / "no_bundle")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
