"""SB3 wiring smoke test: SAC with HerReplayBuffer learns (briefly) on ArmReach's Dict
observation, and the rewards of relabelled goals come from the environment's compute_reward.
Not a success claim: a few hundred steps."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import SAC, HerReplayBuffer

import sim.envs  # noqa: F401  (registers sim2real/*)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One thread per test process: the suite runs two workers on two cores, and torch's own
    threads fighting them for the cores make this test several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_torch_thread")
def test_sac_her_trains_on_arm_reach_and_relabels_with_compute_reward() -> None:
    env = gym.make("sim2real/ArmReach-v0")
    try:
        model = SAC(
            "MultiInputPolicy",
            env,
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
            learning_starts=100,
            batch_size=64,
            policy_kwargs={"net_arch": [32, 32]},
            seed=0,
            device="cpu",
        )
        model.learn(total_timesteps=300)
        assert model.num_timesteps == 300
        buffer = model.replay_buffer
        assert isinstance(buffer, HerReplayBuffer)
        assert buffer.size() == 300  # 6 full episodes of 50 steps, all stored

        batch = buffer.sample(512)
        achieved = batch.next_observations["achieved_goal"].numpy()
        desired = batch.observations["desired_goal"].numpy()
        rewards = batch.rewards.numpy().reshape(-1)
        np.testing.assert_array_equal(rewards, env.unwrapped.compute_reward(achieved, desired, None))
        # HER's relabelled goals (future achieved goals) are often reached; the sampled real
        # goals of a random policy almost never are.
        assert np.mean(rewards == 0.0) > 0.1

        obs, _ = env.reset(seed=0)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(action)
    finally:
        env.close()
