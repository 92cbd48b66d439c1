"""The curiosity callback: adds ``weight x`` normalized intrinsic reward to what PPO, SAC and TQC learn.

Every environment step (cheap numpy only): the transition ``(s, a, s')`` is recorded (``s'`` is
the true last observation where an episode ended), and for the episodic modes its SimHash is
counted in the episode's table. Transitions are then processed in batches: the observation
statistics and the intrinsic-return statistics are updated from them.

- On-policy (PPO), at the end of each rollout: the bonus of every rollout step is added to
  ``rollout_buffer.rewards``, returns and advantages are recomputed, and the curiosity network
  trains ``updates_per_rollout`` epochs on the rollout.
- Off-policy (SAC, TQC, with or without HER): the replay buffer is hooked so that every batch
  the learner samples gets ``reward = extrinsic (HER-relabelled) + weight x normalized intrinsic``,
  the global novelty recomputed on that batch by the current network (never frozen at collection
  time), which then takes one gradient step on it. The episodic factor belongs to the episode as
  it was collected, so it is stored per buffer slot (``buffer.curiosity_episodic[pos, env]``) and
  read back with the sampled indices.

The hook swaps the buffer's class for a subclass that overrides ``sample`` (and the index-drawing
helpers); it pickles as the plain buffer class without the hook, so ``save_replay_buffer`` and
``load_replay_buffer`` work at any time, and the callback re-attaches to a loaded buffer.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.buffers import NStepReplayBuffer, ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples

from policies.config import CuriosityConfig
from policies.curiosity.bonus import BONUS_MODES, EpisodicCounter, IntrinsicReturnNormalizer, combine_bonus
from policies.curiosity.networks import Curiosity, CuriosityError, make_curiosity

#: Off-policy: collected steps between two updates of the observation and return statistics.
STATISTICS_CHUNK_STEPS = 64
#: The replay buffer attribute holding the episodic factor of each slot, ``(buffer_size, n_envs)``.
EPISODIC_ATTRIBUTE = "curiosity_episodic"

Samples = ReplayBufferSamples | DictReplayBufferSamples


class CuriosityCallback(BaseCallback):
    """Intrinsic reward for PPO (on-policy) or SAC/TQC (off-policy, HER included); the algorithm
    is read from the model the callback is given to.

    :param config: method (rnd | icm), bonus mode (global | episodic | combined), weight, sizes.
    :param seed: seeds the curiosity networks, the SimHash projection and the minibatch order.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, config: CuriosityConfig, seed: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose)
        if config.bonus not in BONUS_MODES:
            raise CuriosityError(f"curiosity.bonus '{config.bonus}' is unknown; use one of {BONUS_MODES}")
        self.config = config
        self.seed = seed
        self.curiosity: Curiosity | None = None
        self.counter: EpisodicCounter | None = None
        self.normalizer: IntrinsicReturnNormalizer | None = None
        #: The latest normalized intrinsic rewards (before weight): PPO ``(n_steps, n_envs)`` of the
        #: last rollout; off-policy ``(batch_size,)`` of the last sampled batch.
        self.last_intrinsic_rewards: NDArray[np.float32] | None = None
        #: Off-policy: the (buffer slot, env) indices of the last sampled batch.
        self.last_sample_indices: tuple[NDArray[Any], NDArray[Any]] | None = None
        self._off_policy = False
        self._pending: list[tuple[NDArray[np.float32], ...]] = []
        self._saved_state: Mapping[str, Any] | None = None
        self._last_obs_seen: Any = None
        self._rng = np.random.default_rng(seed)

    @property
    def episodic(self) -> bool:
        """Whether the bonus uses the episodic counts (``episodic`` or ``combined``)."""
        return self.config.bonus != "global"

    @property
    def global_novelty(self) -> bool:
        """Whether the bonus uses the curiosity network (``global`` or ``combined``)."""
        return self.config.bonus != "episodic"

    # --- SB3 hooks ---------------------------------------------------------------------------

    def _init_callback(self) -> None:
        if isinstance(self.model, OffPolicyAlgorithm):
            self._off_policy = True
        elif isinstance(self.model, OnPolicyAlgorithm):
            self._off_policy = False
        else:
            raise CuriosityError(
                f"curiosity supports on-policy (PPO) and off-policy (SAC, TQC) models, not {type(self.model).__name__}"
            )
        n_envs = self.model.n_envs
        if self.curiosity is None:
            self.curiosity = make_curiosity(
                self.config, self.model.observation_space, self.model.action_space, self.seed
            )
            self.counter = EpisodicCounter(
                self.curiosity.observation_dim, self.config.episodic_hash_bits, n_envs, self.seed
            )
            self.normalizer = IntrinsicReturnNormalizer(n_envs, self.config.gamma)
        elif len(self._parts()[2].returns) != n_envs:
            raise CuriosityError(
                f"this CuriosityCallback ran with {len(self._parts()[2].returns)} envs; the model has {n_envs}"
            )
        if self._saved_state is not None:
            state, self._saved_state = self._saved_state, None
            self.load_state_dict(state)

    def _on_training_start(self) -> None:
        curiosity, _, _ = self._parts()
        self._pending.clear()
        # learn(..., reset_num_timesteps=False) continues the running episodes: keep their counts
        if self.model._last_obs is not self._last_obs_seen:
            first = curiosity.flatten(self.model._last_obs)  # type: ignore[arg-type]
            for env in range(self.model.n_envs):
                self._start_episode(env, first[env])
        if self._off_policy:
            attach_sampling_hook(self.model.replay_buffer, self)  # type: ignore[attr-defined]

    def _on_rollout_start(self) -> None:
        if not self._off_policy:
            self._pending.clear()

    def _on_step(self) -> bool:
        curiosity, counter, _ = self._parts()
        dones, infos = self.locals["dones"], self.locals["infos"]
        obs = curiosity.flatten(self.model._last_obs)  # type: ignore[arg-type]
        current = curiosity.flatten(self.locals["new_obs"])
        next_obs = current.copy()
        ended = np.flatnonzero(dones)
        for env in ended:  # the VecEnv already reset: the true s' is in the info
            terminal = infos[env].get("terminal_observation")
            if terminal is not None:
                next_obs[env] = curiosity.flatten(_batch_of_one(terminal))[0]
        actions = self._step_actions()
        factors = counter.observe(next_obs) if self.episodic else np.ones(len(next_obs), np.float32)
        for env in ended:
            self._start_episode(int(env), current[env])
        if self._off_policy and self.episodic:
            buffer = self.model.replay_buffer  # type: ignore[attr-defined]
            # on_step runs before the transition is added, so buffer.pos is its slot
            _episodic_array(buffer)[buffer.pos] = factors
        self._pending.append((obs, actions, next_obs, factors))
        if self._off_policy and len(self._pending) >= STATISTICS_CHUNK_STEPS:
            self._flush()
        return True

    def _on_rollout_end(self) -> None:
        self.logger.record("curiosity/weight", self.config.weight)
        if self._off_policy:
            buffer = self.model.replay_buffer  # type: ignore[attr-defined]
            if getattr(buffer, "_curiosity_hook", None) is not self:  # e.g. after load_replay_buffer
                attach_sampling_hook(buffer, self)
            return
        rollout = self.model.rollout_buffer  # type: ignore[attr-defined]
        if len(self._pending) != rollout.buffer_size:
            raise CuriosityError(
                f"curiosity recorded {len(self._pending)} steps of a {rollout.buffer_size}-step rollout"
            )
        obs, actions, next_obs, intrinsic = self._flush()
        self.last_intrinsic_rewards = intrinsic
        self.logger.record("curiosity/intrinsic_reward_mean", float(intrinsic.mean()))
        rollout.rewards += self.config.weight * intrinsic
        rollout.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
        if self.global_novelty:
            self._train_on_rollout(obs, actions, next_obs)

    def _on_training_end(self) -> None:
        self._last_obs_seen = self.model._last_obs
        if self._off_policy:
            if self._pending:
                self._flush()
            detach_sampling_hook(self.model.replay_buffer)  # type: ignore[attr-defined]

    # --- the work ----------------------------------------------------------------------------

    def _parts(self) -> tuple[Curiosity, EpisodicCounter, IntrinsicReturnNormalizer]:
        if self.curiosity is None or self.counter is None or self.normalizer is None:
            raise CuriosityError("the CuriosityCallback has no model yet; pass it to model.learn(callback=...) first")
        return self.curiosity, self.counter, self.normalizer

    def _step_actions(self) -> NDArray[np.float32]:
        """This step's actions as the replay buffer stores them: scaled to [-1, 1] for Box spaces."""
        if self._off_policy:
            actions = self.locals["buffer_actions"]
        elif isinstance(self.model.action_space, spaces.Box):
            actions = self.model.policy.scale_action(self.locals["clipped_actions"])
        else:
            actions = self.locals["actions"]
        return np.asarray(actions, dtype=np.float32).reshape(self.model.n_envs, -1)

    def _start_episode(self, env: int, first_obs: NDArray[np.float32]) -> None:
        curiosity, counter, _ = self._parts()
        if self.episodic:
            counter.reset(env, curiosity.observation_rms.mean, curiosity.observation_rms.var)
            counter.observe(first_obs[None], np.array([env]))

    def _flush(self) -> tuple[NDArray[np.float32], ...]:
        """Update the statistics from the recorded steps and forget them; returns their flattened
        ``obs, actions, next_obs`` and their normalized intrinsic reward ``(T, n_envs)``."""
        curiosity, _, normalizer = self._parts()
        obs, actions, next_obs, factors = (np.stack(part) for part in zip(*self._pending, strict=True))
        self._pending.clear()
        steps, n_envs = factors.shape
        obs, actions, next_obs = (part.reshape(steps * n_envs, -1) for part in (obs, actions, next_obs))
        curiosity.update_observation_statistics(next_obs)
        novelty = curiosity.bonus(obs, actions, next_obs).reshape(steps, n_envs) if self.global_novelty else None
        rewards = combine_bonus(self.config.bonus, novelty, factors)
        normalizer.update(rewards)
        self.logger.record("curiosity/weight", self.config.weight)
        self.logger.record("curiosity/intrinsic_return_std", normalizer.std)
        if self.episodic:
            self.logger.record_mean("curiosity/episodic_factor_mean", float(factors.mean()))
        return obs, actions, next_obs, normalizer.normalize(rewards)

    def _train_on_rollout(
        self, obs: NDArray[np.float32], actions: NDArray[np.float32], next_obs: NDArray[np.float32]
    ) -> None:
        curiosity, _, _ = self._parts()
        batch_size = int(getattr(self.model, "batch_size", 64))
        losses = []
        for _ in range(self.config.updates_per_rollout):
            order = self._rng.permutation(len(obs))
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                losses.append(curiosity.update(obs[batch], actions[batch], next_obs[batch]))
        if losses:
            self.logger.record("curiosity/loss", float(np.mean(losses)))

    def on_sample(
        self, buffer: ReplayBuffer, samples: Samples, batch_inds: NDArray[Any], env_inds: NDArray[Any]
    ) -> Samples:
        """The sampled batch with ``weight x`` normalized intrinsic reward added (called by the
        hooked replay buffer); the curiosity network then takes one step on the batch."""
        curiosity, _, normalizer = self._parts()
        novelty = None
        if self.global_novelty:
            novelty, loss = curiosity.bonus_and_update(samples.observations, samples.actions, samples.next_observations)
            self.logger.record_mean("curiosity/loss", loss)
        factors = _episodic_array(buffer)[batch_inds, env_inds] if self.episodic else None
        intrinsic = normalizer.normalize(combine_bonus(self.config.bonus, novelty, factors))
        self.last_intrinsic_rewards = intrinsic
        self.last_sample_indices = (batch_inds, env_inds)
        self.logger.record_mean("curiosity/intrinsic_reward_mean", float(intrinsic.mean()))
        bonus = torch.as_tensor(self.config.weight * intrinsic, device=samples.rewards.device)
        return samples._replace(rewards=samples.rewards + bonus.reshape(-1, 1).to(samples.rewards.dtype))

    # --- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer, observation and return statistics, SimHash projection (tensors,
        strings and numbers only: ``torch.load(weights_only=True)`` reads it). The episodic side
        array lives on the replay buffer and is saved with it."""
        curiosity, counter, normalizer = self._parts()
        return {
            "bonus": self.config.bonus,
            "curiosity": curiosity.state_dict(),
            "counter": counter.state_dict(),
            "normalizer": normalizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; before the callback met its model, the state is kept and
        applied when ``learn`` starts.

        :raises CuriosityError: the state comes from another method, bonus or space.
        """
        if state["bonus"] != self.config.bonus:
            raise CuriosityError(
                f"curiosity state is for bonus '{state['bonus']}', this config uses '{self.config.bonus}'"
            )
        if self.curiosity is None:
            self._saved_state = state
            return
        curiosity, counter, normalizer = self._parts()
        curiosity.load_state_dict(state["curiosity"])
        counter.load_state_dict(state["counter"])
        normalizer.load_state_dict(state["normalizer"])


# --- the replay buffer hook ------------------------------------------------------------------


class _CuriousSampling(ReplayBuffer):
    """Mixed into a replay buffer's class while a :class:`CuriosityCallback` is attached: records
    the sampled (slot, env) indices and passes every sampled batch through the callback.

    It derives from ``ReplayBuffer`` (rather than ``object``) so that the buffer's ``__class__``
    can be swapped: CPython refuses the swap when a mixin changes the instance layout's base.
    """

    _curiosity_base: type[ReplayBuffer]
    _TRANSIENT = ("_curiosity_hook", "_curiosity_indices")

    def sample(self, batch_size: int, env: Any = None) -> Samples:  # type: ignore[override]
        self._curiosity_indices: list[tuple[NDArray[Any], NDArray[Any]]] = []
        samples = super().sample(batch_size, env=env)  # type: ignore[misc]
        batch_inds = np.concatenate([batch for batch, _ in self._curiosity_indices])
        env_inds = np.concatenate([envs for _, envs in self._curiosity_indices])
        if len(batch_inds) != len(samples.actions):
            raise CuriosityError(f"{self._curiosity_base.__name__} sampled in a way curiosity cannot index")
        return self._curiosity_hook.on_sample(self, samples, batch_inds, env_inds)  # type: ignore[attr-defined, arg-type]

    def _get_samples(self, batch_inds: NDArray[Any], env: Any = None) -> Samples:  # type: ignore[override]
        # ReplayBuffer/DictReplayBuffer draw the env indices inside _get_samples, as their first
        # random draw: replay that draw from the same RNG state to learn them.
        n_envs = self.n_envs  # type: ignore[attr-defined]
        before = np.random.get_state()
        samples = super()._get_samples(batch_inds, env)  # type: ignore[misc]
        if n_envs == 1:
            env_inds = np.zeros(len(batch_inds), dtype=np.int64)
        else:
            after = np.random.get_state()
            np.random.set_state(before)
            env_inds = np.random.randint(0, high=n_envs, size=(len(batch_inds),))
            np.random.set_state(after)
        self._curiosity_indices.append((batch_inds, env_inds))
        return samples

    def _get_real_samples(self, batch_indices: NDArray[Any], env_indices: NDArray[Any], env: Any = None) -> Samples:
        self._curiosity_indices.append((batch_indices, env_indices))  # HER: real part comes first
        return super()._get_real_samples(batch_indices, env_indices, env)  # type: ignore[misc]

    def _get_virtual_samples(self, batch_indices: NDArray[Any], env_indices: NDArray[Any], env: Any = None) -> Samples:
        self._curiosity_indices.append((batch_indices, env_indices))
        return super()._get_virtual_samples(batch_indices, env_indices, env)  # type: ignore[misc]

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Pickle as the plain buffer class, without the callback, so the file loads without any
        # curiosity. copyreg.__newobj__ (the default) insists on type(self); the older
        # copyreg._reconstructor (object.__new__(base), then __setstate__) does not.
        state = self.__getstate__()
        if isinstance(state, dict):
            state = {key: value for key, value in state.items() if key not in self._TRANSIENT}
        reconstructor = copyreg._reconstructor  # type: ignore[attr-defined]
        return reconstructor, (self._curiosity_base, object, None), state


_HOOKED_CLASSES: dict[type[ReplayBuffer], type[ReplayBuffer]] = {}


def attach_sampling_hook(buffer: ReplayBuffer, callback: CuriosityCallback) -> None:
    """Route ``buffer.sample`` through ``callback.on_sample`` (see the module docstring).

    :raises CuriosityError: an n-step buffer (its rewards are n-step sums; the bonus is one-step).
    """
    if isinstance(buffer, NStepReplayBuffer):
        raise CuriosityError("curiosity adds a one-step bonus and cannot be used with n_steps > 1; set n_steps to 1")
    if not isinstance(buffer, _CuriousSampling):
        base = type(buffer)
        if base not in _HOOKED_CLASSES:
            _HOOKED_CLASSES[base] = type(f"Curious{base.__name__}", (_CuriousSampling, base), {"_curiosity_base": base})
        buffer.__class__ = _HOOKED_CLASSES[base]
    buffer._curiosity_hook = callback  # type: ignore[attr-defined]
    if callback.episodic:
        _episodic_array(buffer)


def detach_sampling_hook(buffer: ReplayBuffer) -> None:
    """Give ``buffer`` its plain class back (its episodic side array stays)."""
    if isinstance(buffer, _CuriousSampling):
        for name in _CuriousSampling._TRANSIENT:
            buffer.__dict__.pop(name, None)
        buffer.__class__ = buffer._curiosity_base  # type: ignore[assignment]


def _episodic_array(buffer: ReplayBuffer) -> NDArray[np.float32]:
    """The buffer's per-slot episodic factors, made (all 1: slots collected without curiosity
    count as new) when missing or of another shape."""
    shape = (buffer.buffer_size, buffer.n_envs)
    array = getattr(buffer, EPISODIC_ATTRIBUTE, None)
    if not isinstance(array, np.ndarray) or array.shape != shape:
        array = np.ones(shape, dtype=np.float32)
        setattr(buffer, EPISODIC_ATTRIBUTE, array)
    return array


def _batch_of_one(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {key: np.asarray(value)[None] for key, value in obs.items()}
    return np.asarray(obs)[None]
