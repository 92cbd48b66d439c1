"""Curiosity: intrinsic reward for exploration with PPO, SAC and TQC (HER included).

- :mod:`policies.curiosity.networks`: RND and ICM, and :class:`Curiosity` (networks, optimizer and
  observation normalization, usable without SB3), made by :func:`make_curiosity`.
- :mod:`policies.curiosity.bonus`: the intrinsic-return normalization, the episodic SimHash
  counts, and the global / episodic / combined bonus.
- :mod:`policies.curiosity.callback`: :class:`CuriosityCallback`, the SB3 callback that adds the
  bonus to PPO's rollouts or to every batch an off-policy learner samples.

Usage::

    callback = CuriosityCallback(config.curiosity, seed=config.seed)
    model.learn(total_timesteps, callback=[callback, ...])
    torch.save(callback.state_dict(), run / "curiosity.pt")
"""

from __future__ import annotations

from policies.curiosity.bonus import BONUS_MODES, EpisodicCounter, IntrinsicReturnNormalizer, combine_bonus
from policies.curiosity.callback import CuriosityCallback, attach_sampling_hook, detach_sampling_hook
from policies.curiosity.networks import (
    Curiosity,
    CuriosityError,
    IntrinsicCuriosityModule,
    RandomNetworkDistillation,
    make_curiosity,
    observation_keys,
)

__all__ = [
    "BONUS_MODES",
    "Curiosity",
    "CuriosityCallback",
    "CuriosityError",
    "EpisodicCounter",
    "IntrinsicCuriosityModule",
    "IntrinsicReturnNormalizer",
    "RandomNetworkDistillation",
    "attach_sampling_hook",
    "combine_bonus",
    "detach_sampling_hook",
    "make_curiosity",
    "observation_keys",
]
