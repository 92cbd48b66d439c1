"""From novelty to intrinsic reward: return normalization, episodic counts and their combination.

- :class:`IntrinsicReturnNormalizer`: the RND paper's reward normalization. Each environment keeps
  a discounted, non-episodic intrinsic return ``R <- gamma R + r``; a running variance of those
  returns scales the bonus, ``r / std(R)``, so that the bonus keeps a stable scale while the novelty
  itself decays as the curiosity network learns.
- :class:`EpisodicCounter`: count-based novelty within the current episode, ``1 / sqrt(N(key))``,
  with ``key`` = SimHash (Tang et al. 2017, "#Exploration"): the sign bits of a fixed random
  projection of the normalized observation. Counts restart at every episode start.
- :func:`combine_bonus`: ``global``, ``episodic`` or ``combined`` = episodic x global, as in Henaff
  et al. 2023, "A Study of Global and Episodic Bonuses for Exploration in Contextual MDPs".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3.common.running_mean_std import RunningMeanStd

from policies.curiosity.networks import OBSERVATION_CLIP, CuriosityError, load_rms_state, rms_state

#: The bonus modes of :class:`policies.config.CuriosityConfig`.
BonusMode = Literal["global", "episodic", "combined"]
BONUS_MODES: tuple[str, ...] = ("global", "episodic", "combined")


class IntrinsicReturnNormalizer:
    """Running std of the discounted intrinsic return, per environment, never reset at episode ends.

    :param n_envs: parallel environments (one running return each).
    :param gamma: discount of the intrinsic return.
    """

    def __init__(self, n_envs: int, gamma: float) -> None:
        self.gamma = gamma
        self.returns = np.zeros(n_envs, dtype=np.float64)
        self.rms = RunningMeanStd(shape=())

    @property
    def std(self) -> float:
        """The running std of the intrinsic return (1 before any update)."""
        return float(np.sqrt(self.rms.var) + 1e-8)

    def update(self, rewards: NDArray[Any]) -> None:
        """Advance every environment's return through ``rewards`` (``(T, n_envs)``, in time order)
        and fold the ``T x n_envs`` returns into the running statistics."""
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1, len(self.returns))
        history = np.empty_like(rewards)
        for step, reward in enumerate(rewards):
            self.returns = self.gamma * self.returns + reward
            history[step] = self.returns
        self.rms.update(history.ravel())

    def normalize(self, rewards: NDArray[Any]) -> NDArray[np.float32]:
        """``rewards / std`` (the return's running std; no mean is subtracted, as in RND)."""
        return (np.asarray(rewards, dtype=np.float64) / self.std).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"returns": torch.as_tensor(self.returns), "rms": rms_state(self.rms)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        returns = state["returns"].numpy().astype(np.float64)
        if returns.shape != self.returns.shape:
            raise CuriosityError(f"curiosity state is for {len(returns)} envs, this run has {len(self.returns)}")
        self.returns = returns
        load_rms_state(self.rms, state["rms"])


class EpisodicCounter:
    """Per-environment visit counts of SimHash keys within the current episode.

    Observations are normalized with the statistics given at the episode's start (so that a
    state keeps its key for the whole episode while the running statistics move on), clipped to
    [-5, 5], projected by a fixed Gaussian matrix; the key is the signs of the projection.

    :param observation_dim: size of the flattened observation.
    :param bits: SimHash bits (1 to 64): more bits tell nearer states apart.
    :param n_envs: parallel environments (one count table each).
    :param seed: seeds the projection.
    """

    def __init__(self, observation_dim: int, bits: int, n_envs: int, seed: int = 0) -> None:
        if not 1 <= bits <= 64:
            raise CuriosityError(f"curiosity.episodic_hash_bits must be in 1..64, got {bits}")
        self.projection = np.random.default_rng(seed).standard_normal((observation_dim, bits)).astype(np.float32)
        self.counts: list[dict[int, int]] = [{} for _ in range(n_envs)]
        self.mean = np.zeros((n_envs, observation_dim), dtype=np.float32)
        self.std = np.ones((n_envs, observation_dim), dtype=np.float32)

    def keys(self, flat_obs: NDArray[Any], env_indices: NDArray[Any] | None = None) -> NDArray[np.uint64]:
        """The SimHash key of each observation (``(N, observation_dim)``; row i belongs to
        environment ``env_indices[i]``, default ``i``)."""
        rows = np.arange(len(flat_obs)) if env_indices is None else np.asarray(env_indices)
        normalized = np.clip((flat_obs - self.mean[rows]) / self.std[rows], -OBSERVATION_CLIP, OBSERVATION_CLIP)
        bits = np.packbits(normalized @ self.projection > 0, axis=1, bitorder="little")
        padded = np.zeros((len(bits), 8), dtype=np.uint8)
        padded[:, : bits.shape[1]] = bits
        return padded.view(np.uint64).ravel()

    def reset(self, env_index: int, mean: NDArray[Any], var: NDArray[Any]) -> None:
        """Start a new episode in environment ``env_index``: forget its counts and normalize its
        observations with ``mean`` and ``var`` until its next reset."""
        self.counts[env_index].clear()
        self.mean[env_index] = mean
        self.std[env_index] = np.sqrt(var + 1e-8)

    def observe(self, flat_obs: NDArray[Any], env_indices: NDArray[Any] | None = None) -> NDArray[np.float32]:
        """Count one visit of each observation and return ``1 / sqrt(N)`` after counting it.

        :param flat_obs: ``(N, observation_dim)``, one row per environment in ``env_indices``.
        :param env_indices: the environment of each row (default: row i is environment i).
        """
        rows = range(len(flat_obs)) if env_indices is None else env_indices
        factors = np.empty(len(flat_obs), dtype=np.float32)
        for row, (env, key) in enumerate(zip(rows, self.keys(flat_obs, env_indices).tolist(), strict=True)):
            count = self.counts[env].get(key, 0) + 1
            self.counts[env][key] = count
            factors[row] = count**-0.5
        return factors

    def state_dict(self) -> dict[str, Any]:
        """The projection (the counts belong to running episodes, which a resumed run restarts)."""
        return {"projection": torch.as_tensor(self.projection)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        projection = state["projection"].numpy()
        if projection.shape != self.projection.shape:
            raise CuriosityError(f"saved SimHash projection is {projection.shape}, expected {self.projection.shape}")
        self.projection = projection.astype(np.float32)


def combine_bonus(mode: str, novelty: NDArray[Any] | None, episodic: NDArray[Any] | None) -> NDArray[np.float32]:
    """The unnormalized intrinsic reward of a batch.

    :param mode: ``global`` (``novelty``), ``episodic`` (``episodic``) or ``combined``
        (``episodic * novelty``).
    :param novelty: the curiosity network's novelty (unused, may be ``None``, for ``episodic``).
    :param episodic: the episodic factors ``1 / sqrt(N)`` (unused, may be ``None``, for ``global``).
    """
    if mode not in BONUS_MODES:
        raise CuriosityError(f"curiosity.bonus '{mode}' is unknown; use one of {BONUS_MODES}")
    if mode != "episodic" and novelty is None:
        raise CuriosityError(f"curiosity.bonus '{mode}' needs the global novelty")
    if mode != "global" and episodic is None:
        raise CuriosityError(f"curiosity.bonus '{mode}' needs the episodic factors")
    if mode == "global":
        return np.asarray(novelty, dtype=np.float32)
    if mode == "episodic":
        return np.asarray(episodic, dtype=np.float32)
    return (np.asarray(episodic) * np.asarray(novelty)).astype(np.float32)
