"""Robot descriptions shipped with sim2real, as data: ``NAME.urdf`` plus ``NAME.yaml`` (see README.md).

This module only finds the files; ``hardware.RobotSpec.from_yaml`` reads them.
"""

from __future__ import annotations

from pathlib import Path

ROBOTS_DIR = Path(__file__).resolve().parent
#: Domain randomization configs for the shipped robots, ``NAME.yaml`` (see sim/randomization.py).
RANDOMIZATION_DIR = ROBOTS_DIR / "randomization"


def available() -> list[str]:
    """Names of the robots shipped here."""
    return sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml"))


def randomization_yaml(name: str) -> Path:
    """The shipped domain randomization config of a shipped robot.

    :raises FileNotFoundError: naming the configs there are.
    """
    path = RANDOMIZATION_DIR / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in RANDOMIZATION_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no randomization config for '{name}'; shipped: {shipped}")
    return path


def robot_yaml(name_or_path: str | Path) -> Path:
    """The robot YAML for a shipped robot's name (``"ur5e"``), or the given path if it is a file.

    :raises FileNotFoundError: naming the robots there are.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = ROBOTS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"no robot '{name_or_path}': not a file, and not one of the shipped robots {available()}")
