"""Pictures of a MuJoCo model: offscreen frames from a named camera, saved as PNG or GIF.

Headless: MuJoCo picks its GL backend from ``MUJOCO_GL`` (``egl`` here; ``osmesa`` elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from sim.mujoco_model import OVERVIEW_CAMERA

Frame = NDArray[np.uint8]


class FrameRenderer:
    """Renders ``model`` from one camera; keeps the GL context for repeated frames.

    :param width: image width, px. :param height: image height, px.
    :param camera: a camera name in the model (the overview camera by default).
    """

    def __init__(self, model: mujoco.MjModel, *, width: int = 480, height: int = 360, camera: str = OVERVIEW_CAMERA):
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._camera = camera

    def render(self, data: mujoco.MjData) -> Frame:
        """One RGB frame (height, width, 3) of the current state."""
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def save_png(frame: Frame, path: Path) -> Path:
    """Write one frame as a PNG; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path)
    return path


def save_gif(frames: Sequence[Frame], path: Path, *, fps: float) -> Path:
    """Write frames as a looping GIF played at ``fps`` frames per second; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path
