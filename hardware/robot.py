"""The one interface every robot implements: simulated, real (ROS 2) and replayed.

Implementations: ``sim.MujocoRobot``, ``sim.PybulletRobot``, ``sim2real_ros.Ros2Robot``,
``episodes.ReplayRobot``; and :class:`hardware.safety.SafeRobot`, which wraps any of them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from numpy.typing import ArrayLike

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState


@runtime_checkable
class Robot(Protocol):
    """A robot: read its state, write a command, and (in simulation or replay) reset it."""

    @property
    def spec(self) -> RobotSpec:
        """The robot's contract: joints, order, units, limits, interface, rates."""
        ...

    def read(self) -> RobotState:
        """The latest state, timestamped; never blocks longer than one control period."""
        ...

    def write(self, command: Command) -> Command:
        """Send ``command``; returns the command actually applied (after any clamping)."""
        ...

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        """Put the robot back to a start state (sim, replay) and return it.

        :param seed: seeds any randomness of the start state.
        :param position: joint positions to start from, rad; the robot's default when ``None``.
        :raises NotImplementedError: a real robot cannot be reset by software.
        """
        ...

    def close(self) -> None:
        """Release the robot (simulator, connections); a real robot is left holding still."""
        ...
