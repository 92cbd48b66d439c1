"""Errors of the hardware abstraction.

Every message is one line that names the input (a file, a joint, a command) and says how to fix
it, so that the command line can print it as it is.
"""

from __future__ import annotations

from pathlib import Path


class HardwareError(Exception):
    """Base class of every error raised by ``hardware``."""


class UrdfError(HardwareError):
    """A URDF file is missing, malformed, or describes an impossible robot."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class RobotConfigError(HardwareError):
    """A robot YAML is missing, malformed, or disagrees with its URDF."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class MeshNotFoundError(UrdfError):
    """A mesh referenced by a URDF could not be found on the search path."""


class CommandError(HardwareError, ValueError):
    """A command has the wrong interface or shape for the robot it is sent to.

    Bad *values* (NaN, out of limits) are not errors: the safety layer replaces or clamps them.
    A command of the wrong shape is a programming error and is raised.
    """
