"""Train a policy from a :class:`policies.config.TrainConfig`, top to bottom.

:func:`train` is the whole loop of ``sim2real train``:

1. write the resolved config into the run folder;
2. build the training and evaluation environments (monitored, normalized when configured);
3. build the learner (SAC/TQC with held gSDE noise, PPO; HER for goal tasks), or load the newest
   checkpoint to resume;
4. attach the callbacks: curiosity (intrinsic reward), exploration metrics, periodic evaluation,
   checkpoints (model, normalization statistics, replay buffer, curiosity state);
5. learn, with TensorBoard logs and a progress bar;
6. save the final model and statistics, evaluate it with a video, and plot the learning curve.

Everything lands in the run folder (:mod:`policies.run_folder`); ``sim2real export RUN`` turns it
into a deployable bundle.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from policies.algorithms import build_model, load_model
from policies.callbacks import (
    ExplorationMetricsCallback,
    ProgressLineCallback,
    RunCheckpointCallback,
    curiosity_path,
    latest_checkpoint,
    replay_buffer_path,
    vecnormalize_path,
)
from policies.config import ConfigError, TrainConfig, load_config, save_config
from policies.environments import make_single_env, make_training_env
from policies.evaluate import evaluate_policy, model_policy
from policies.metrics import yaml_ready
from policies.plots import plot_learning_curve
from policies.run_folder import RunFolder


class ResumeError(ValueError):
    """A run folder that cannot be resumed; the message names the folder and the fix."""


@dataclass
class TrainResult:
    """What a training run produced.

    :param run: the run folder.
    :param model: the trained learner.
    :param metrics: training exploration metrics and the final evaluation (also in ``metrics.yaml``).
    """

    run: RunFolder
    model: BaseAlgorithm
    metrics: dict[str, Any]


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress_bar: bool = True,
    final_evaluation: bool = True,
    torch_threads: int | None = None,
    progress_lines: int = 0,
    verbose: int = 0,
) -> TrainResult:
    """Train ``config`` into ``run_dir`` (see the module docstring for the steps).

    :param resume: continue the newest checkpoint in ``run_dir/checkpoints`` up to the budget.
    :param progress_bar: show SB3's progress bar (tqdm + rich).
    :param final_evaluation: evaluate the final policy (``eval.episodes`` episodes, video,
        learning curve) after training.
    :param torch_threads: torch's intra-op threads (``None`` keeps torch's default).
    :param progress_lines: print a progress line every this many steps (0: none; for logs,
        where the progress bar does not render).
    :param verbose: SB3 verbosity (0 quiet, 1 training logs).
    """
    if torch_threads is not None:
        th.set_num_threads(torch_threads)
    run = RunFolder.at(run_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    checkpoint = _checkpoint_to_resume(run) if resume else None
    save_config(config, run.config)

    # Environments: the learner's (statistics updated) and the evaluator's (synchronised from it).
    stats = None if checkpoint is None else vecnormalize_path(run.checkpoints, checkpoint[0])
    env = make_training_env(config, monitor_dir=run.root / "monitor", normalization_stats=stats)

    # The learner: fresh, or the newest checkpoint with its replay buffer.
    if checkpoint is None:
        model = build_model(config, env, tensorboard_log=run.tensorboard, verbose=verbose)
    else:
        model = _resume_model(config, env, run, *checkpoint)

    # Callbacks. Curiosity comes first: it changes the rewards the other callbacks and the learner see.
    callbacks: list[BaseCallback] = []
    curiosity = None
    if config.curiosity is not None:
        from policies.curiosity import CuriosityCallback

        curiosity = CuriosityCallback(config.curiosity, seed=config.seed, verbose=verbose)
        if checkpoint is not None and curiosity_path(run.checkpoints, checkpoint[0]).is_file():
            curiosity.load_state_dict(th.load(curiosity_path(run.checkpoints, checkpoint[0]), weights_only=True))
        callbacks.append(curiosity)
    exploration = ExplorationMetricsCallback()
    callbacks.append(exploration)
    if progress_lines > 0:
        callbacks.append(ProgressLineCallback(progress_lines, config.total_timesteps, exploration))
    per_env = config.env.n_envs
    eval_env = None
    if config.eval.freq > 0:
        eval_env = make_training_env(config, n_envs=1, seed=config.seed + 10_000, training=False)
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=config.eval.episodes,
                eval_freq=max(config.eval.freq // per_env, 1),
                log_path=str(run.eval_dir),
                deterministic=True,
                verbose=verbose,
            )
        )
    if config.checkpoint.freq > 0:
        callbacks.append(
            RunCheckpointCallback(
                save_freq=max(config.checkpoint.freq // per_env, 1),
                save_path=str(run.checkpoints),
                name_prefix="model",
                save_replay_buffer=config.checkpoint.replay_buffer and config.off_policy,
                save_vecnormalize=True,
                curiosity=curiosity,
            )
        )

    # Learn.
    done_steps = model.num_timesteps
    started = time.perf_counter()
    model.learn(
        total_timesteps=max(config.total_timesteps - done_steps, 0),
        callback=CallbackList(callbacks),
        tb_log_name=config.name or "run",
        reset_num_timesteps=checkpoint is None,
        progress_bar=progress_bar,
    )
    wall_s = time.perf_counter() - started

    # Save, evaluate, plot.
    model.save(run.model)
    if isinstance(env, VecNormalize):
        env.save(str(run.vecnormalize))
    metrics: dict[str, Any] = {
        "run": str(run.root),
        "config": config.name,
        "algorithm": config.algorithm,
        "total_timesteps": int(model.num_timesteps),
        "wall_time_s": round(wall_s, 1),
        "steps_per_second": round((model.num_timesteps - done_steps) / max(wall_s, 1e-9), 1),
        "training": exploration.summary(),
    }
    if final_evaluation:
        metrics["evaluation"] = evaluate_run_model(config, model, env, run)
        plot_learning_curve(run.evaluations, run.learning_curve, title=config.name, training=_training_curve(run))
    run.metrics.write_text(yaml.safe_dump(yaml_ready(metrics), sort_keys=False), encoding="utf-8")
    env.close()
    if eval_env is not None:
        eval_env.close()
    return TrainResult(run=run, model=model, metrics=metrics)


def train_from_file(
    path: str | Path, run_dir: str | Path, overrides: dict[str, Any] | None = None, **kwargs: Any
) -> TrainResult:
    """:func:`train` for a config file (or a shipped config's name) with dotted ``overrides``."""
    return train(load_config(path, overrides), run_dir, **kwargs)


def resume_run(run_dir: str | Path, **kwargs: Any) -> TrainResult:
    """Continue the run in ``run_dir`` from its newest checkpoint, with its own config."""
    run = RunFolder.at(run_dir)
    if not run.config.is_file():
        raise ResumeError(f"{run.root} has no config.yaml; resume a folder that 'sim2real train' wrote")
    return train(load_config(run.config), run.root, resume=True, **kwargs)


def evaluate_run_model(config: TrainConfig, model: BaseAlgorithm, env: VecEnv, run: RunFolder) -> dict[str, Any]:
    """The final deterministic evaluation of a trained model, with the video when configured."""
    video = run.video if config.eval.video else None
    single = make_single_env(config, render_mode="rgb_array" if video is not None else None)
    normalization = env if isinstance(env, VecNormalize) else None
    try:
        return evaluate_policy(
            single,
            model_policy(model, normalization, deterministic=True),
            episodes=max(config.eval.episodes, 1),
            seed=config.seed + 20_000,
            video=video,
            video_episodes=config.eval.video_episodes,
        )
    finally:
        single.close()


def _checkpoint_to_resume(run: RunFolder) -> tuple[int, Path]:
    latest = latest_checkpoint(run.checkpoints)
    if latest is None:
        raise ResumeError(
            f"{run.checkpoints} holds no model_<steps>_steps.zip; train without --resume to start the run"
        )
    return latest


def _resume_model(config: TrainConfig, env: VecEnv, run: RunFolder, steps: int, path: Path) -> BaseAlgorithm:
    model = load_model(config, path, env)
    model.tensorboard_log = str(run.tensorboard)
    buffer = replay_buffer_path(run.checkpoints, steps)
    if isinstance(model, OffPolicyAlgorithm) and buffer.is_file():
        model.load_replay_buffer(str(buffer))
    return model


def _training_curve(run: RunFolder) -> dict[str, np.ndarray] | None:
    """Return per training episode against environment steps, from the Monitor CSV files (SB3's
    ``load_results`` needs pandas, which nothing else here does)."""
    episodes = []  # (end time s, length, return) of every environment's episodes
    for path in sorted((run.root / "monitor").glob("*.monitor.csv")):
        lines = path.read_text(encoding="utf-8").splitlines()[1:]  # first line: the JSON header
        episodes += [(float(row["t"]), int(row["l"]), float(row["r"])) for row in csv.DictReader(lines)]
    if not episodes:
        return None
    episodes.sort()  # interleave the environments by when their episodes ended
    _, lengths, returns = zip(*episodes, strict=True)
    return {"timesteps": np.cumsum(lengths), "return": np.asarray(returns)}


__all__ = ["ConfigError", "ResumeError", "TrainResult", "resume_run", "train", "train_from_file"]
