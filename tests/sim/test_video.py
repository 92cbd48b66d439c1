"""Rollout videos: MP4 through imageio's ffmpeg and GIF through Pillow, read back frame by frame."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

import sim.envs  # noqa: F401  (registers sim2real/*)
from sim.video import record_rollout


@pytest.mark.parametrize("backend", ["mujoco", "pybullet"])
def test_mp4_has_every_step_and_episodes_restart(backend: str, tmp_path: Path) -> None:
    env = gym.make(
        "sim2real/ArmReach-v0",
        backend=backend,
        render_mode="rgb_array",
        render_width=96,
        render_height=64,
        max_episode_steps=5,
    )
    try:
        recording = record_rollout(env, None, tmp_path / "reach.mp4", steps=12, seed=3)
    finally:
        env.close()
    assert recording.episode_starts == [0, 5, 10]
    assert len(recording.infos) == len(recording.rewards) == 12
    assert all("is_success" in info for info in recording.infos)
    assert recording.fps == env.metadata["render_fps"]
    frames = np.stack(list(iio.imiter(recording.path, plugin="FFMPEG")))
    assert frames.shape == (13, 64, 96, 3) and recording.frames == 13
    assert frames.std() > 10  # a picture, not a blank


def test_gif_follows_a_policy_and_its_fps(tmp_path: Path) -> None:
    env = gym.make("sim2real/BaseNavigate-v0", render_mode="rgb_array", render_width=80, render_height=60)
    try:
        forward = np.array([1.0, 0.0], dtype=np.float32)
        recording = record_rollout(env, lambda _obs: forward, tmp_path / "nav.gif", steps=6, fps=5, seed=0)
    finally:
        env.close()
    with Image.open(recording.path) as gif:
        assert gif.n_frames == 7 and gif.size == (80, 60)
        assert gif.info["duration"] == 200  # ms per frame at 5 fps
        first = np.asarray(gif.convert("RGB"))
        gif.seek(6)
        last = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, last)  # the base drove: the pictures changed


def test_refuses_what_it_cannot_record(tmp_path: Path) -> None:
    env = gym.make("sim2real/ArmReach-v0")
    try:
        with pytest.raises(ValueError, match="render_mode='rgb_array'"):
            record_rollout(env, None, tmp_path / "x.mp4", steps=2)
    finally:
        env.close()
    env = gym.make("sim2real/ArmReach-v0", render_mode="rgb_array")
    try:
        with pytest.raises(ValueError, match=r"\.mp4"):
            record_rollout(env, None, tmp_path / "x.avi", steps=2)
    finally:
        env.close()
