"""Vectorised training and evaluation environments for a :class:`policies.config.TrainConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

import sim.envs  # noqa: F401  (registers sim2real/*)
from policies.config import TrainConfig

#: Info keys the Monitor wrapper writes into each episode's summary (the metrics read them).
MONITOR_INFO_KEYWORDS = ("is_success",)


def env_kwargs(config: TrainConfig, **extra: Any) -> dict[str, Any]:
    """The ``gymnasium.make`` keyword arguments of the config's environment, plus ``extra``."""
    kwargs = {**config.env.kwargs, **extra}
    if config.env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = config.env.max_episode_steps
    return kwargs


def make_single_env(config: TrainConfig, **extra: Any) -> gymnasium.Env[Any, Any]:
    """One environment of the config (with its time limit), e.g. for rendering a video."""
    return gymnasium.make(config.env_id, **env_kwargs(config, **extra))


def make_training_env(
    config: TrainConfig,
    *,
    n_envs: int | None = None,
    seed: int | None = None,
    monitor_dir: Path | None = None,
    training: bool = True,
    normalization_stats: Path | None = None,
    **extra: Any,
) -> VecEnv:
    """The config's vectorised environment, monitored and, when ``env.normalize`` is set,
    wrapped in ``VecNormalize``.

    :param n_envs: environments (``env.n_envs`` when ``None``).
    :param seed: seed of the first environment (the next ones use seed + 1, ...).
    :param monitor_dir: folder for the Monitor CSV files; ``None`` keeps them in memory.
    :param training: update the normalization statistics (False for evaluation environments,
        whose statistics are synchronised from the training environment).
    :param normalization_stats: saved VecNormalize statistics to start from (resuming a run).
    """
    count = config.env.n_envs if n_envs is None else n_envs
    vec_cls: type[DummyVecEnv] | type[SubprocVecEnv] = (
        SubprocVecEnv if config.env.vec_env == "subproc" and count > 1 else DummyVecEnv
    )
    env = make_vec_env(
        config.env_id,
        n_envs=count,
        seed=config.seed if seed is None else seed,
        monitor_dir=None if monitor_dir is None else str(monitor_dir),
        env_kwargs=env_kwargs(config, **extra),
        vec_env_cls=vec_cls,
        monitor_kwargs={"info_keywords": _info_keywords(config)},
    )
    if not config.env.normalize:
        return env
    if normalization_stats is not None:
        return load_normalization(normalization_stats, env, training=training)
    normalized = VecNormalize(env, training=training, **_normalize_kwargs(config))
    if not training:
        normalized.norm_reward = False
    return normalized


def load_normalization(path: Path, env: VecEnv, *, training: bool) -> VecEnv:
    """``env`` wrapped in the VecNormalize statistics saved at ``path`` (our own run: a pickle)."""
    normalized = VecNormalize.load(str(path), env)
    normalized.training = training
    if not training:
        normalized.norm_reward = False
    return normalized


def _normalize_kwargs(config: TrainConfig) -> dict[str, Any]:
    kwargs = dict(config.env.normalize or {})
    if config.env.normalize is True:
        kwargs = {}
    kwargs.setdefault("norm_reward", False)
    if "gamma" not in kwargs and "gamma" in config.hyperparams:
        kwargs["gamma"] = config.hyperparams["gamma"]
    return kwargs


def _info_keywords(config: TrainConfig) -> tuple[str, ...]:
    from sim.tasks import TASKS, GoalTask

    task = TASKS[config.env.task]
    keys: tuple[str, ...] = (
        MONITOR_INFO_KEYWORDS if issubclass(task, GoalTask) or config.env.task == "BaseNavigate" else ()
    )
    if config.env.task == "BaseExplore":
        keys = (*keys, "coverage")
    return keys
