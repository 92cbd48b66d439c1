"""Record a rollout of an environment as a video: MP4 (imageio's ffmpeg) or GIF, by suffix.

``imageio`` and ``imageio-ffmpeg`` write the MP4 (H.264); the GIF goes through Pillow
(:func:`sim.render.save_gif`). Episodes that end during the recording are reset and recording
goes on, so a video always has ``steps`` steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from numpy.typing import NDArray

from sim.render import save_gif

Policy = Callable[[Any], Any]
VIDEO_SUFFIXES = (".mp4", ".gif")


@dataclass
class Recording:
    """What :func:`record_rollout` wrote and saw.

    :param path: the video file.
    :param frames: number of frames written (``steps + 1``: the first is the reset).
    :param fps: frames per second of the video.
    :param rewards: the reward of every step.
    :param infos: the ``info`` of every step.
    :param episode_starts: step indices at which an episode was reset (0 first).
    """

    path: Path
    frames: int
    fps: float
    rewards: list[float]
    infos: list[dict[str, Any]]
    episode_starts: list[int]


def record_rollout(
    env: gymnasium.Env[Any, Any],
    policy: Policy | None,
    path: Path | str,
    *,
    steps: int = 200,
    fps: float | None = None,
    seed: int | None = None,
) -> Recording:
    """Run ``policy`` in ``env`` for ``steps`` steps and write every frame to ``path``.

    :param env: an environment made with ``render_mode="rgb_array"``.
    :param policy: observation -> action; ``None`` samples random actions from the action space
        (seeded by ``seed``).
    :param path: the video file; ``.mp4`` or ``.gif``.
    :param steps: environment steps to record.
    :param fps: frames per second; the environment's ``metadata["render_fps"]`` (its policy rate,
        so the video plays in real time) when ``None``.
    :param seed: seed of the first reset (and of the random policy).
    :raises ValueError: an unknown suffix, or an environment that does not render frames.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"video path {path} must end in one of {VIDEO_SUFFIXES}")
    if env.render_mode != "rgb_array":
        raise ValueError(f"record_rollout needs an env made with render_mode='rgb_array', got {env.render_mode!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rate = float(fps if fps is not None else env.metadata.get("render_fps", 30))
    if policy is None:
        env.action_space.seed(seed)
    act = policy if policy is not None else (lambda _obs: env.action_space.sample())
    path.parent.mkdir(parents=True, exist_ok=True)

    writer = VideoWriter(path, rate)
    rewards: list[float] = []
    infos: list[dict[str, Any]] = []
    starts = [0]
    try:
        observation, _ = env.reset(seed=seed)
        writer.add(frame_of(env))
        for step in range(steps):
            observation, reward, terminated, truncated, info = env.step(act(observation))
            rewards.append(float(reward))
            infos.append(info)
            writer.add(frame_of(env))
            if (terminated or truncated) and step + 1 < steps:
                observation, _ = env.reset()
                starts.append(step + 1)
    finally:
        count = writer.close()
    return Recording(path=path, frames=count, fps=rate, rewards=rewards, infos=infos, episode_starts=starts)


def frame_of(env: gymnasium.Env[Any, Any]) -> NDArray[np.uint8]:
    """The environment's rendered RGB frame (height, width, 3), checked."""
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise ValueError(f"env.render() gave {type(frame).__name__}, not an RGB frame")
    return np.asarray(frame, dtype=np.uint8)


class VideoWriter:
    """Frames to a video file at ``fps``: MP4 frames stream to ffmpeg as they come; GIF frames are
    kept and saved at :meth:`close` (which returns the number of frames written)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.count = path, fps, 0
        self._frames: list[NDArray[np.uint8]] = []
        self._mp4: Any = None
        if path.suffix.lower() == ".mp4":
            import imageio.v2 as imageio

            # macro_block_size=2: H.264 in yuv420p needs even sides only; imageio's default (16)
            # would rescale a 480x360 frame.
            self._mp4 = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2)

    def add(self, frame: NDArray[np.uint8]) -> None:
        if self._mp4 is not None:
            self._mp4.append_data(frame)
        else:
            self._frames.append(frame)
        self.count += 1

    def close(self) -> int:
        if self._mp4 is not None:
            self._mp4.close()
        elif self._frames:
            save_gif(self._frames, self.path, fps=self.fps)
        return self.count
