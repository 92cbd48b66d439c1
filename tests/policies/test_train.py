"""Training wiring: every algorithm x exploration combination trains a tiny budget, on real
sim2real environments (MuJoCo), and what each option promises is checked (no success claims:
budgets are a few hundred steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
import yaml

from policies.algorithms import build_model
from policies.config import CONFIG_DIR, ConfigError, config_from_dict, load_config
from policies.environments import make_training_env
from policies.gsde import HeldNoiseSAC, HeldNoiseTQC
from policies.train import resume_run, train

TINY_NET = {"net_arch": [32, 32]}
OFF_POLICY_TINY = {"learning_starts": 50, "batch_size": 32, "buffer_size": 5000, "policy_kwargs": TINY_NET}
PPO_TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "policy_kwargs": TINY_NET}
EXPLORATION = {
    "gaussian": {},
    "gsde": {"gsde": {"use_sde": True}},
    "rnd": {"curiosity": {"method": "rnd", "bonus": "global", "weight": 0.5}},
    "icm+episodic": {"curiosity": {"method": "icm", "bonus": "combined", "weight": 0.5}},
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    th.set_num_threads(1)


def tiny_config(algorithm: str, exploration: dict[str, Any], **extra: Any) -> dict[str, Any]:
    off_policy = algorithm != "PPO"
    config: dict[str, Any] = {
        "name": f"tiny_{algorithm}",
        "algorithm": algorithm,
        # Off-policy learners train on the goal task with HER; PPO on the mobile base.
        "env": {"task": "ArmReach", "normalize": {"norm_obs": True}}
        if off_policy
        else {"task": "BaseExplore", "n_envs": 2, "kwargs": {"reward_type": "sparse"}, "max_episode_steps": 40},
        "hyperparams": dict(OFF_POLICY_TINY if off_policy else PPO_TINY),
        "exploration": exploration,
        "her": {"n_sampled_goal": 2} if off_policy else None,
        "budget": {"total_timesteps": 150 if off_policy else 128},
        "eval": {"freq": 0, "video": False},
        "checkpoint": {"freq": 0},
    }
    config.update(extra)
    return config


@pytest.mark.parametrize("exploration", sorted(EXPLORATION))
@pytest.mark.parametrize("algorithm", ["SAC", "TQC", "PPO"])
def test_every_algorithm_and_exploration_trains(algorithm: str, exploration: str, tmp_path: Path) -> None:
    config = config_from_dict(tiny_config(algorithm, EXPLORATION[exploration]))
    before = {k: v.clone() for k, v in build_model(config, make_training_env(config)).policy.state_dict().items()}
    result = train(config, tmp_path, progress_bar=False, final_evaluation=False)

    model = result.model
    assert model.num_timesteps == config.total_timesteps
    assert model.use_sde == (exploration == "gsde")
    after = model.policy.state_dict()
    assert any(not th.equal(before[k], after[k]) for k in before), "the policy's weights never changed"
    if algorithm != "PPO":
        assert isinstance(model, HeldNoiseSAC | HeldNoiseTQC)
        assert type(model.replay_buffer).__name__ == "HerReplayBuffer"
    assert result.run.model.is_file() and result.run.config.is_file()
    training = yaml.safe_load(result.run.metrics.read_text())["training"]
    assert training["episodes"] >= 1 and np.isfinite(training["continuity_cost"])


def _training_actions(config_dict: dict[str, Any], tmp_path: Path) -> float:
    config = config_from_dict(config_dict)
    result = train(config, tmp_path, progress_bar=False, final_evaluation=False)
    return float(yaml.safe_load(result.run.metrics.read_text())["training"]["continuity_cost"])


def test_held_gsde_noise_is_smooth_where_sb3_resampling_is_not(tmp_path: Path) -> None:
    """SB3 draws new gSDE noise at every collect_rollouts (every step with train_freq=1); the held
    noise keeps it for the episode, so executed actions change only as the state does."""
    common = {"budget": {"total_timesteps": 300}}
    gaussian = _training_actions(tiny_config("SAC", {}, **common), tmp_path / "gaussian")
    held = _training_actions(
        tiny_config("SAC", {"gsde": {"use_sde": True, "log_std_init": -1.0}}, **common), tmp_path / "held"
    )
    resampled = _training_actions(
        tiny_config("SAC", {"gsde": {"use_sde": True, "log_std_init": -1.0, "hold_noise": False}}, **common),
        tmp_path / "resampled",
    )
    assert held < gaussian / 3, (held, gaussian)
    assert held < resampled / 3, (held, resampled)


def test_run_folder_resume_and_pictures(tmp_path: Path) -> None:
    config = config_from_dict(
        tiny_config(
            "SAC",
            {"gsde": {"use_sde": True}},
            budget={"total_timesteps": 200},
            checkpoint={"freq": 100, "replay_buffer": True},
            eval={"freq": 100, "episodes": 1, "video": True, "video_episodes": 1},
        )
    )
    first = train(config, tmp_path, progress_bar=False)
    run = first.run
    checkpoints = sorted(p.name for p in run.checkpoints.iterdir())
    assert "model_200_steps.zip" in checkpoints and "model_vecnormalize_200_steps.pkl" in checkpoints
    assert "model_replay_buffer_200_steps.pkl" in checkpoints
    assert run.learning_curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.video.stat().st_size > 1000
    evaluations = np.load(run.evaluations)
    assert list(evaluations["timesteps"]) == [100, 200]
    metrics = yaml.safe_load(run.metrics.read_text())
    assert 0.0 <= metrics["evaluation"]["success_rate"] <= 1.0

    # Resume to a larger budget: the step count and the replay buffer continue.
    saved = yaml.safe_load(run.config.read_text())
    saved["budget"]["total_timesteps"] = 300
    run.config.write_text(yaml.safe_dump(saved))
    resumed = resume_run(run.root, progress_bar=False, final_evaluation=False)
    assert resumed.model.num_timesteps == 300
    # 200 restored + 100 new; loading, HER's buffer may drop the checkpoint's last transition
    # (it cannot know whether that episode had ended).
    assert 299 <= resumed.model.replay_buffer.size() <= 300


def test_resume_without_checkpoints_is_a_clear_error(tmp_path: Path) -> None:
    from policies.config import save_config
    from policies.train import ResumeError

    save_config(config_from_dict(tiny_config("SAC", {})), tmp_path / "config.yaml")
    with pytest.raises(ResumeError, match="holds no model_"):
        resume_run(tmp_path, progress_bar=False)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_build(path: Path) -> None:
    config = load_config(path)
    env = make_training_env(config, n_envs=1)
    model = build_model(config, env)
    assert model.use_sde == config.gsde.use_sde
    env.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"algoritm": "SAC"}, "unknown key 'algoritm'"),
        ({"algorithm": "DDPG"}, "algorithm 'DDPG' is not supported"),
        ({"algorithm": "PPO", "her": {"n_sampled_goal": 4}}, "her needs an off-policy algorithm"),
        ({"env": {"task": "BaseExplore"}, "her": {}}, "her needs a goal-conditioned task"),
        ({"hyperparams": {"use_sde": True}}, "exploration.gsde"),
        (
            {"hyperparams": {"policy_kwargs": {"log_std_init": -1}}, "exploration": {"gsde": {"use_sde": True}}},
            "conflicts with exploration.gsde",
        ),
        ({"exploration": {"gsde": {"use_sde": True, "full_std": False}}}, "always uses full_std"),
        ({"exploration": {"curiosity": {"method": "count"}}}, "'rnd' or 'icm'"),
        ({"env": {"task": "ArmReach", "n_env": 2}}, "unknown key 'env.n_env'"),
    ],
)
def test_bad_configs_name_the_key(change: dict[str, Any], message: str) -> None:
    data = {"algorithm": "SAC", "env": {"task": "ArmReach"}, **change}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data, source="bad.yaml")


def test_cli_train_reports_a_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim2real.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("algorithm: SAC\nenv: {task: ArmReach}\nbudjet: {total_timesteps: 10}\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unknown key 'budjet'" in error
    assert main(["train", "no_such_config"]) == 2
    assert "arm_reach_sac_gsde" in capsys.readouterr().err


def test_cli_train_with_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sim2real.cli import main

    out = tmp_path / "run"
    status = main(
        ["train", "arm_reach_sac_gsde", "--out", str(out), "--timesteps", "120", "--no-progress", "--threads", "1",
         "--set", "hyperparams.learning_starts=50", "--set", "hyperparams.batch_size=32",
         "--set", "eval.freq=0", "--set", "eval.episodes=1", "--set", "eval.video=false", "--set", "checkpoint.freq=0"]
    )  # fmt: skip
    assert status == 0
    saved = load_config(out / "config.yaml")
    assert saved.total_timesteps == 120 and saved.hyperparams["learning_starts"] == 50
    out_text = capsys.readouterr().out
    assert "next: sim2real export" in out_text
    assert "  step 60/120," in out_text  # --no-progress prints a line every 5% of the budget


def test_cli_eval_of_a_run_and_its_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from policies.export import export_bundle
    from sim2real.cli import main

    config = config_from_dict(tiny_config("SAC", {"gsde": {"use_sde": True}}, budget={"total_timesteps": 100}))
    run = train(config, tmp_path / "run", progress_bar=False, final_evaluation=False).run
    bundle = export_bundle(run.root)
    args = ["--episodes", "2", "--video-episodes", "1"]
    assert main(["eval", str(run.root), "--explore", *args, "--out", str(tmp_path / "explore")]) == 0
    assert main(["eval", str(run.root), *args, "--out", str(tmp_path / "det")]) == 0
    assert main(["eval", str(bundle), "--backend", "pybullet", *args, "--out", str(tmp_path / "bundle")]) == 0
    explore, det, onnx = (
        yaml.safe_load((tmp_path / d / "eval.yaml").read_text()) for d in ("explore", "det", "bundle")
    )
    assert (explore["mode"], det["mode"], onnx["backend"]) == ("exploratory", "deterministic", "pybullet")
    assert len(det["per_episode"]) == 2 and (tmp_path / "det" / "eval.mp4").stat().st_size > 1000
    # Exploration moves the arm differently from the mean policy on the same seeds.
    assert explore["per_episode"] != det["per_episode"] or explore["continuity_cost"] != det["continuity_cost"]
    capsys.readouterr()
    assert main(["eval", str(tmp_path)]) == 2
    assert "neither a run folder" in capsys.readouterr().err
