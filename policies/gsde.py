"""gSDE for off-policy learners with the noise actually held: smooth exploration on purpose.

Generalized State-Dependent Exploration (Raffin et al. 2022) explores with
``a = mu(s) + theta_eps^T z(s)``, where ``z(s)`` are the policy's last-layer features and
``theta_eps`` is a noise matrix. While ``theta_eps`` is held, the exploratory action is a smooth
function of the state, so consecutive actions differ only as much as consecutive states do:
the motion a robot can take without wearing its gearboxes.

SB3's SAC and TQC draw a new ``theta_eps`` at the start of every ``collect_rollouts`` and before
every gradient step. With ``train_freq=1`` that is every environment step, so
``sde_sample_freq=-1`` (meant to be "once per rollout") gives white noise again, and positive
``sde_sample_freq`` counts from zero in each one-step call. :class:`HeldNoiseSAC` and
:class:`HeldNoiseTQC` keep their own noise:

- a standard-normal draw ``eps`` per environment, held for one episode (``sde_sample_freq=-1``)
  or for ``sde_sample_freq`` environment steps counted across collection calls;
- the matrix used for each action is ``eps * std``, with the *current* learned std, so the
  scale follows training while the direction stays held;
- gradient steps keep SB3's own fresh draws (the policy loss needs them); they no longer
  leak into collection because the held matrix is put back before every action.

``predict(obs, deterministic=False)`` outside training uses whatever matrix is set and never
draws a new one (SB3 behaviour). Evaluation and deployment therefore use
``deterministic=True``; exploratory evaluation calls :func:`resample_exploration` at each
episode start, explicitly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise


class HeldNoiseMixin:
    """Holds the gSDE noise of an SB3 off-policy algorithm (see the module docstring).

    :param hold_noise: hold the noise (True) or keep SB3's per-call resampling (False, for
        comparison).
    """

    # Attributes the mixin reads from the SB3 algorithm it is mixed into.
    use_sde: bool
    sde_sample_freq: int
    actor: Any
    device: th.device

    def __init__(self, *args: Any, hold_noise: bool = True, **kwargs: Any) -> None:
        self.hold_noise = hold_noise
        self._noise_eps: th.Tensor | None = None  # (n_envs, features, actions), standard normal
        self._noise_age: np.ndarray = np.zeros(0, dtype=np.int64)  # steps each env's noise was used
        self._noise_episode_done: np.ndarray = np.zeros(0, dtype=bool)
        super().__init__(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_noise_eps", "_noise_age", "_noise_episode_done"]  # type: ignore[misc]

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.use_sde and self.hold_noise:
            self._refresh_held_noise(n_envs)
        return super()._sample_action(learning_starts, action_noise, n_envs)  # type: ignore[misc]

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if self.use_sde and self.hold_noise and len(self._noise_episode_done) == len(dones):
            self._noise_episode_done |= np.asarray(dones, dtype=bool)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)  # type: ignore[misc]

    def _refresh_held_noise(self, n_envs: int) -> None:
        """Draw new ``eps`` where an episode ended or the noise is ``sde_sample_freq`` steps old,
        then set the matrices SB3 uses from ``eps`` and the current std."""
        distribution = self.actor.action_dist
        std = distribution.get_std(self.actor.log_std).detach()
        if self._noise_eps is None or self._noise_eps.shape != (n_envs, *std.shape):
            self._noise_eps = th.randn((n_envs, *std.shape), device=std.device)
            self._noise_age = np.zeros(n_envs, dtype=np.int64)
            self._noise_episode_done = np.zeros(n_envs, dtype=bool)
        stale = self._noise_episode_done if self.sde_sample_freq < 0 else self._noise_age >= self.sde_sample_freq
        if stale.any():
            rows = th.as_tensor(np.flatnonzero(stale), device=std.device)
            self._noise_eps[rows] = th.randn((len(rows), *std.shape), device=std.device)
            self._noise_age[stale] = 0
            self._noise_episode_done[:] = False
        matrices = self._noise_eps * std
        distribution.exploration_matrices = matrices
        distribution.exploration_mat = matrices[0]
        self._noise_age += 1


class HeldNoiseSAC(HeldNoiseMixin, SAC):
    """SB3's SAC whose gSDE noise is held for an episode or ``sde_sample_freq`` steps."""


class HeldNoiseTQC(HeldNoiseMixin, TQC):
    """sb3-contrib's TQC whose gSDE noise is held for an episode or ``sde_sample_freq`` steps."""


def resample_exploration(model: BaseAlgorithm, n_envs: int = 1) -> None:
    """Draw a fresh gSDE noise matrix for exploratory (``deterministic=False``) prediction.

    SB3's ``predict`` never draws one: without this call, every exploratory episode after
    training reuses the last matrix of training. Does nothing for policies without gSDE.
    """
    if not getattr(model, "use_sde", False):
        return
    if isinstance(model, HeldNoiseMixin):
        model._noise_eps = None  # the next exploratory action draws new noise
        model._refresh_held_noise(n_envs)
        return
    model.policy.reset_noise(n_envs)  # type: ignore[operator]
