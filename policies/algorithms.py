"""Build the SB3 learner a :class:`policies.config.TrainConfig` describes.

One place maps the config onto the SB3 constructors: the algorithm class (SAC and TQC with held
gSDE noise, :mod:`policies.gsde`), the policy class for the observation space, the gSDE
arguments (split between the algorithm and ``policy_kwargs`` as SB3 expects), HER's replay
buffer, and the hyperparameters exactly as the config gives them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gymnasium import spaces
from stable_baselines3 import PPO, HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from policies.config import TrainConfig
from policies.gsde import HeldNoiseSAC, HeldNoiseTQC

#: The SB3 class of each algorithm name.
ALGORITHM_CLASSES: dict[str, type[BaseAlgorithm]] = {"SAC": HeldNoiseSAC, "TQC": HeldNoiseTQC, "PPO": PPO}


def policy_name(config: TrainConfig, observation_space: spaces.Space[Any]) -> str:
    """The config's policy, or SB3's default for the observation space."""
    if config.policy:
        return config.policy
    return "MultiInputPolicy" if isinstance(observation_space, spaces.Dict) else "MlpPolicy"


def model_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The constructor keyword arguments of the config's learner (without env and policy)."""
    kwargs = dict(config.hyperparams)
    policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
    gsde = config.gsde
    kwargs["use_sde"] = gsde.use_sde
    if gsde.use_sde:
        kwargs["sde_sample_freq"] = gsde.sde_sample_freq
        policy_kwargs.update(log_std_init=gsde.log_std_init, use_expln=gsde.use_expln)
        if config.off_policy:
            kwargs["use_sde_at_warmup"] = gsde.use_sde_at_warmup
        else:  # SB3's SAC and TQC actors always use full_std (the config check refuses False)
            policy_kwargs["full_std"] = gsde.full_std
    if config.off_policy:
        kwargs["hold_noise"] = gsde.hold_noise
    if config.her is not None:
        kwargs["replay_buffer_class"] = HerReplayBuffer
        kwargs["replay_buffer_kwargs"] = dict(config.her)
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


def build_model(
    config: TrainConfig, env: VecEnv, *, tensorboard_log: Path | None = None, verbose: int = 0
) -> BaseAlgorithm:
    """A fresh learner for ``env``, seeded with ``config.seed``."""
    cls = ALGORITHM_CLASSES[config.algorithm]
    return cls(
        policy_name(config, env.observation_space),
        env,
        seed=config.seed,
        tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        verbose=verbose,
        **model_kwargs(config),
    )


def load_model(
    config: TrainConfig, path: Path, env: VecEnv | None = None, *, inference_only: bool = False
) -> BaseAlgorithm:
    """A learner saved at ``path`` (our own run: SB3's zip, which unpickles).

    :param env: the environment to continue training in (``None`` to only predict).
    :param inference_only: only the policy is needed: load with a one-slot plain replay buffer,
        since HER's buffer cannot be built without an environment.
    """
    cls = ALGORITHM_CLASSES[config.algorithm]
    kwargs: dict[str, Any] = {"device": "cpu"}
    if inference_only and config.off_policy:
        kwargs["custom_objects"] = {"buffer_size": 1, "replay_buffer_class": None, "replay_buffer_kwargs": {}}
    return cls.load(str(path), env=env, **kwargs)
