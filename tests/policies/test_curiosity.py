"""Curiosity: RND/ICM learn, the bonus is normalized and combined as specified, and the callback
puts it where PPO and SAC (HER included) learn from it: PPO's rollout, every sampled batch."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.her import HerReplayBuffer

import sim.envs  # noqa: F401  (registers sim2real/*)
from policies.config import CuriosityConfig
from policies.curiosity import (
    CuriosityCallback,
    CuriosityError,
    EpisodicCounter,
    IntrinsicReturnNormalizer,
    attach_sampling_hook,
    combine_bonus,
    make_curiosity,
    observation_keys,
)

EXPLORE = "sim2real/BaseExplore-v0"
REACH = "sim2real/ArmReach-v0"


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)  # two shared cores: keep tiny networks from spreading over both


def random_transitions(env_id: str, steps: int, seed: int = 0) -> tuple[Any, np.ndarray, Any, gym.Env[Any, Any]]:
    """``steps`` transitions of random actions in one env (obs, actions, next_obs as batches)."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations, actions, next_observations = [], [], []
    for _ in range(steps):
        action = env.action_space.sample()
        next_obs, _, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        actions.append(action)
        next_observations.append(next_obs)
        obs = env.reset()[0] if terminated or truncated else next_obs
    return np.array(observations), np.array(actions), np.array(next_observations), env


def test_rnd_bonus_of_a_state_trained_on_drops_far_below_unseen_states() -> None:
    obs, actions, next_obs, env = random_transitions(EXPLORE, 64)
    curiosity = make_curiosity(
        CuriosityConfig(method="rnd", learning_rate=1e-3), env.observation_space, env.action_space
    )
    curiosity.update_observation_statistics(next_obs)
    seen = np.repeat(next_obs[:1], 64, axis=0)
    env.observation_space.seed(1)
    unseen = np.array([env.observation_space.sample() for _ in range(64)])
    before = curiosity.bonus(seen, actions, seen)[0]
    for _ in range(150):
        curiosity.update(seen, actions, seen)
    after = curiosity.bonus(seen[:1], actions[:1], seen[:1])[0]
    assert after < 0.05 * before
    assert after < 0.1 * np.median(curiosity.bonus(unseen, actions, unseen))


def test_icm_forward_error_decreases_with_training_and_dict_keys_skip_the_desired_goal() -> None:
    obs, actions, next_obs, env = random_transitions(EXPLORE, 256)
    curiosity = make_curiosity(
        CuriosityConfig(method="icm", learning_rate=3e-3), env.observation_space, env.action_space
    )
    curiosity.update_observation_statistics(next_obs)
    before = curiosity.bonus(obs, actions, next_obs).mean()
    losses = [curiosity.update(obs, actions, next_obs) for _ in range(150)]
    assert curiosity.bonus(obs, actions, next_obs).mean() < 0.5 * before
    assert np.mean(losses[-10:]) < np.mean(losses[:10])

    reach = gym.make(REACH)
    assert observation_keys(reach.observation_space, None) == ["achieved_goal", "observation"]
    with pytest.raises(CuriosityError, match="must name observation keys"):
        observation_keys(reach.observation_space, ["goal"])
    reach_curiosity = make_curiosity(CuriosityConfig(), reach.observation_space, reach.action_space)
    batch = {key: np.stack([space.sample() for _ in range(4)]) for key, space in reach.observation_space.spaces.items()}
    relabelled = {**batch, "desired_goal": batch["desired_goal"] + 1.0}
    np.testing.assert_array_equal(reach_curiosity.flatten(batch), reach_curiosity.flatten(relabelled))
    assert reach_curiosity.flatten(batch).shape == (4, 3 + 15)


def test_intrinsic_reward_is_divided_by_the_running_std_of_the_discounted_return() -> None:
    rng = np.random.default_rng(0)
    rewards = rng.exponential(size=(60, 3))
    normalizer = IntrinsicReturnNormalizer(n_envs=3, gamma=0.9)
    normalizer.update(rewards[:30])
    normalizer.update(rewards[30:])
    returns = np.zeros((60, 3))
    for step in range(60):  # non-episodic: the return carries over from the first update
        returns[step] = 0.9 * (returns[step - 1] if step else 0.0) + rewards[step]
    np.testing.assert_allclose(normalizer.std, returns.std(), rtol=1e-3)
    np.testing.assert_allclose(normalizer.normalize(rewards), rewards / returns.std(), rtol=1e-3)

    scaled = IntrinsicReturnNormalizer(n_envs=3, gamma=0.9)
    scaled.update(100.0 * rewards)
    unscaled = IntrinsicReturnNormalizer(n_envs=3, gamma=0.9)
    unscaled.update(rewards)
    np.testing.assert_allclose(scaled.normalize(100.0 * rewards), unscaled.normalize(rewards), rtol=1e-3)


def test_episodic_counts_give_one_over_sqrt_n_and_restart_with_the_episode() -> None:
    counter = EpisodicCounter(observation_dim=4, bits=16, n_envs=2, seed=0)
    for env in range(2):
        counter.reset(env, np.zeros(4), np.ones(4))
    state = np.array([[0.3, -1.0, 2.0, 0.5], [0.3, -1.0, 2.0, 0.5]])
    factors = [counter.observe(state) for _ in range(4)]
    np.testing.assert_allclose([f[0] for f in factors], [1.0, 2**-0.5, 3**-0.5, 0.5])
    np.testing.assert_allclose([f[1] for f in factors], [1.0, 2**-0.5, 3**-0.5, 0.5])
    assert counter.observe(-state[:1], np.array([1]))[0] == 1.0  # another key, same env
    counter.reset(0, np.zeros(4), np.ones(4))
    np.testing.assert_allclose(counter.observe(state), [1.0, 5**-0.5])  # env 1 keeps counting

    novelty, episodic = np.array([2.0, 4.0]), np.array([1.0, 0.5])
    np.testing.assert_allclose(combine_bonus("combined", novelty, episodic), [2.0, 2.0])
    np.testing.assert_allclose(combine_bonus("global", novelty, None), novelty)
    np.testing.assert_allclose(combine_bonus("episodic", None, episodic), episodic)
    with pytest.raises(CuriosityError, match="unknown"):
        combine_bonus("both", novelty, episodic)


def small_sac(env_id: str, n_envs: int = 1, **kwargs: Any) -> SAC:
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    policy = "MultiInputPolicy" if env_id == REACH else "MlpPolicy"
    return SAC(policy, env, learning_starts=100, batch_size=32, seed=0, policy_kwargs={"net_arch": [32, 32]}, **kwargs)


def test_sac_bonus_is_recomputed_per_sampled_batch_and_the_buffer_still_pickles(tmp_path: Path) -> None:
    config = CuriosityConfig(method="rnd", bonus="combined", weight=0.5, learning_rate=1e-2)
    model = small_sac(EXPLORE, n_envs=2)
    callback = CuriosityCallback(config, seed=0)
    model.learn(140, callback=callback)
    buffer = model.replay_buffer
    assert type(buffer) is ReplayBuffer  # detached when learn ends
    episodic = buffer.curiosity_episodic[: buffer.pos]
    assert episodic.max() <= 1.0 and episodic.min() < 1.0  # the base revisits hash cells
    np.random.seed(3)
    extrinsic = buffer.sample(32).rewards

    attach_sampling_hook(buffer, callback)
    np.random.seed(3)
    first = buffer.sample(32)  # its gradient step changes the predictor
    first_intrinsic = callback.last_intrinsic_rewards.copy()
    slots, envs = callback.last_sample_indices
    assert len(set(envs.tolist())) == 2  # the env indices were recovered from the buffer's own draw
    np.testing.assert_array_equal(first.observations.numpy(), buffer.observations[slots, envs])
    np.testing.assert_array_equal(first.actions.numpy(), buffer.actions[slots, envs])
    novelty = callback.curiosity.bonus(first.observations, first.actions, first.next_observations)
    expected = callback.normalizer.normalize(novelty * buffer.curiosity_episodic[slots, envs])
    np.random.seed(3)
    second = buffer.sample(32)
    np.testing.assert_allclose(callback.last_intrinsic_rewards, expected, rtol=1e-5)
    assert not np.allclose(callback.last_intrinsic_rewards, first_intrinsic, rtol=1e-3)
    for samples, intrinsic in ((first, first_intrinsic), (second, expected)):
        np.testing.assert_allclose(samples.rewards - 0.5 * torch.as_tensor(intrinsic)[:, None], extrinsic, atol=1e-6)

    # Saved while hooked: a plain buffer, no callback inside, the episodic side array kept.
    restored = pickle.loads(pickle.dumps(buffer))
    assert type(restored) is ReplayBuffer and not hasattr(restored, "_curiosity_hook")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    state = callback.state_dict()
    torch.save(state, tmp_path / "curiosity.pt")

    resumed = small_sac(EXPLORE, n_envs=2)
    resumed.load_replay_buffer(tmp_path / "buffer.pkl")
    assert type(resumed.replay_buffer) is ReplayBuffer
    np.testing.assert_array_equal(resumed.replay_buffer.curiosity_episodic, buffer.curiosity_episodic)
    resumed_callback = CuriosityCallback(config, seed=1)
    resumed_callback.load_state_dict(torch.load(tmp_path / "curiosity.pt", weights_only=True))
    resumed_callback.init_callback(resumed)  # what learn() does first; the saved state applies here
    np.testing.assert_array_equal(
        resumed_callback.curiosity.bonus(first.observations, first.actions, first.next_observations),
        callback.curiosity.bonus(first.observations, first.actions, first.next_observations),
    )
    assert resumed_callback.normalizer.std == callback.normalizer.std
    resumed.learning_starts = 0
    resumed.learn(4, callback=resumed_callback)
    assert resumed_callback.last_intrinsic_rewards is not None  # the loaded buffer was hooked again


class RolloutRecorder(BaseCallback):
    """Keeps a copy of the rollout's rewards and advantages as the learner will use them."""

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rewards = self.model.rollout_buffer.rewards.copy()
        self.advantages = self.model.rollout_buffer.advantages.copy()


def ppo_rollout(weight: float) -> tuple[RolloutRecorder, CuriosityCallback, PPO]:
    env = make_vec_env(EXPLORE, n_envs=2, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, policy_kwargs={"net_arch": [32]})
    curiosity, recorder = CuriosityCallback(CuriosityConfig(method="icm", weight=weight)), RolloutRecorder()
    model.learn(64, callback=[curiosity, recorder])
    return recorder, curiosity, model


def test_ppo_rollout_rewards_get_the_weighted_bonus_and_advantages_are_recomputed() -> None:
    plain, _, _ = ppo_rollout(weight=0.0)
    curious, callback, model = ppo_rollout(weight=0.5)
    added = curious.rewards - plain.rewards
    np.testing.assert_allclose(added, 0.5 * callback.last_intrinsic_rewards, atol=1e-6)
    assert added.min() > 0
    # With the same values, GAE is linear in the rewards: the advantages grow by the GAE of the bonus.
    discount = model.gamma * model.gae_lambda
    expected = np.zeros_like(added)
    for step in reversed(range(len(added))):  # no episode ends in 32 steps of a 500-step episode
        expected[step] = added[step] + (discount * expected[step + 1] if step + 1 < len(added) else 0.0)
    np.testing.assert_allclose(curious.advantages - plain.advantages, expected, atol=1e-4)


def test_sac_her_on_arm_reach_learns_with_curiosity_and_logs_it(tmp_path: Path) -> None:
    model = small_sac(REACH, replay_buffer_class=HerReplayBuffer)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = CuriosityCallback(CuriosityConfig(method="icm", bonus="combined", weight=0.2))
    model.learn(250, callback=callback, log_interval=2)
    with open(tmp_path / "progress.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    logged = [row for row in rows if row.get("curiosity/loss")]
    assert logged and all(float(row["curiosity/weight"]) == 0.2 for row in logged)
    assert all(float(row["curiosity/intrinsic_return_std"]) > 0 for row in logged)
    assert 0 < float(logged[-1]["curiosity/episodic_factor_mean"]) <= 1
    slots, envs = callback.last_sample_indices  # real and HER-relabelled parts both indexed
    assert len(slots) == 32 and callback.last_intrinsic_rewards.shape == (32,)
    assert (model.replay_buffer.ep_length[slots, envs] > 0).all()  # indices of whole stored episodes
    filled = model.replay_buffer.curiosity_episodic[: model.replay_buffer.pos]
    assert filled.max() == 1.0 and filled.min() < 1.0  # the arm revisits hash cells within episodes

    attach_sampling_hook(model.replay_buffer, callback)  # as during training: saving still works
    episodic = model.replay_buffer.curiosity_episodic.copy()
    model.save_replay_buffer(tmp_path / "her.pkl")
    model.load_replay_buffer(tmp_path / "her.pkl")
    assert type(model.replay_buffer) is HerReplayBuffer and model.replay_buffer.env is model.env
    np.testing.assert_array_equal(model.replay_buffer.curiosity_episodic, episodic)


def test_indices_limit_what_the_bonus_sees() -> None:
    obs, actions, next_obs, env = random_transitions(EXPLORE, 32)
    pose = [26, 27, 28, 29]  # BaseExplore: 24 scan sectors, 2 velocities, then the odometry pose
    curiosity = make_curiosity(CuriosityConfig(method="rnd", indices=pose), env.observation_space, env.action_space)
    curiosity.update_observation_statistics(next_obs)
    changed = next_obs.copy()
    changed[:, :26] = np.flip(changed[:, :26], axis=0)  # other scans and velocities, same poses
    assert np.array_equal(curiosity.bonus(obs, actions, next_obs), curiosity.bonus(obs, actions, changed))
    changed[:, 26] += 0.5
    assert not np.allclose(curiosity.bonus(obs, actions, next_obs), curiosity.bonus(obs, actions, changed))
    assert curiosity.flatten(next_obs).shape == (32, 4)
    assert np.array_equal(curiosity.flatten(curiosity.flatten(next_obs)), next_obs[:, pose])
    for bad in ([30], list(range(30)), []):
        with pytest.raises(CuriosityError, match="curiosity.indices"):
            make_curiosity(CuriosityConfig(indices=bad), env.observation_space, env.action_space)
