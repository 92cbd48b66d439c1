"""Pick a simulator by name: ``make_robot(spec, "mujoco" | "pybullet")``."""

from __future__ import annotations

from typing import Any, Literal, get_args

from hardware.spec import RobotSpec

Backend = Literal["mujoco", "pybullet"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def make_robot(spec: RobotSpec, backend: str = "mujoco", **kwargs: Any) -> Any:
    """A raw simulated robot (``MujocoRobot`` or ``PybulletRobot``); wrap it in ``SafeRobot``.

    :param backend: ``"mujoco"`` or ``"pybullet"``.
    :param kwargs: passed on (``world``, ``dynamics``, ``search_path``).
    :raises ValueError: an unknown backend.
    """
    if backend == "mujoco":
        from sim.mujoco_robot import MujocoRobot

        return MujocoRobot(spec, **kwargs)
    if backend == "pybullet":
        from sim.pybullet_robot import PybulletRobot

        return PybulletRobot(spec, **kwargs)
    raise ValueError(f"backend '{backend}' is not a simulator here; use one of {list(BACKENDS)}")
