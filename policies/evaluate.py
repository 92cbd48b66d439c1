"""Evaluate a policy on its environment: success rate, return, continuity cost, coverage, video.

A policy here is any ``observation -> action`` callable, so the same loop evaluates an SB3
model from a training run (:func:`model_policy`, which applies the run's observation
normalization) and an exported bundle (``Bundle.act``, normalization folded in).

Deterministic vs exploratory is explicit: ``deterministic=True`` (the default, what a bundle
deploys) uses the policy mean. ``deterministic=False`` explores, and for gSDE draws a fresh
noise matrix at the start of each episode (:func:`policies.gsde.resample_exploration`),
because SB3's ``predict`` never draws one on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from policies.gsde import resample_exploration
from policies.metrics import EpisodeMetrics
from sim.video import VideoWriter, frame_of

Policy = Callable[[Any], np.ndarray]


def model_policy(
    model: BaseAlgorithm, normalization: VecNormalize | None = None, *, deterministic: bool = True
) -> Policy:
    """``observation -> action`` of an SB3 model, normalizing observations as in training."""

    def act(observation: Any) -> np.ndarray:
        if normalization is not None:
            observation = normalization.normalize_obs(observation)
        action, _ = model.predict(observation, deterministic=deterministic)
        return np.asarray(action)

    return act


def evaluate_policy(
    env: gymnasium.Env[Any, Any],
    policy: Policy,
    *,
    episodes: int = 10,
    seed: int = 0,
    on_episode_start: Callable[[], None] | None = None,
    video: Path | None = None,
    video_episodes: int = 2,
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...) and summarize them.

    :param env: a single environment with its time limit (``render_mode="rgb_array"`` for a video).
    :param policy: observation -> action.
    :param on_episode_start: called before each episode (e.g. to draw exploration noise).
    :param video: write the first ``video_episodes`` episodes to this MP4/GIF file.
    :param progress: called after each episode with its index and its result.
    :returns: ``episodes``, ``mean_return``, ``continuity_cost``, ``success_rate`` and
        ``coverage`` where the task reports them, and ``per_episode``.
    """
    space = env.action_space
    metrics = EpisodeMetrics(low=np.asarray(space.low, np.float64), high=np.asarray(space.high, np.float64))  # type: ignore[attr-defined]
    writer = None
    if video is not None:
        video.parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(video, float(env.metadata.get("render_fps", 10)))
    per_episode = []
    try:
        for episode in range(episodes):
            if on_episode_start is not None:
                on_episode_start()
            observation, info = env.reset(seed=seed + episode)
            recording = writer is not None and episode < video_episodes
            if recording:
                writer.add(frame_of(env))  # type: ignore[union-attr]
            actions, total, done, succeeded = [], 0.0, False, False
            while not done:
                action = policy(observation)
                actions.append(np.asarray(action, dtype=np.float64).reshape(-1))
                observation, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                succeeded |= bool(info.get("is_success", False))
                metrics.add_step(info)
                done = terminated or truncated
                if recording:
                    writer.add(frame_of(env))  # type: ignore[union-attr]
            metrics.add_episode(actions, total, info)
            result = {"return": total, "steps": len(actions), "success": bool(info.get("is_success", False))}
            result["reached_goal_once"] = succeeded
            if "coverage" in info:
                result["coverage"] = float(info["coverage"])
            per_episode.append(result)
            if progress is not None:
                progress(episode, result)
    finally:
        if writer is not None:
            writer.close()
    summary = metrics.summary()
    summary["per_episode"] = per_episode
    if video is not None:
        summary["video"] = str(video)
    return summary


def exploration_reset(model: BaseAlgorithm) -> Callable[[], None]:
    """An ``on_episode_start`` hook that draws fresh gSDE noise for exploratory evaluation."""
    return lambda: resample_exploration(model)
