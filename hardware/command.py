"""What a robot is told to do: one vector of numbers and the interface that gives them meaning.

An arm command has one value per joint (spec order): positions in rad, velocities in rad/s or
efforts in N·m. A base command is a twist ``[linear_x_mps, linear_y_mps, angular_z_radps]``
(``hardware.spec.TWIST_COMPONENTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.errors import CommandError
from hardware.spec import TWIST_COMPONENTS, CommandInterface, RobotSpec


@dataclass(frozen=True, eq=False)
class Command:
    """A command vector for one interface. The values are copied into a read-only array."""

    interface: CommandInterface
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64).reshape(-1)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @classmethod
    def position(cls, q_rad: ArrayLike) -> Command:
        """Joint-position targets, rad (m)."""
        return cls("position", np.asarray(q_rad, dtype=np.float64))

    @classmethod
    def velocity(cls, qd_radps: ArrayLike) -> Command:
        """Joint-velocity targets, rad/s (m/s)."""
        return cls("velocity", np.asarray(qd_radps, dtype=np.float64))

    @classmethod
    def effort(cls, tau_nm: ArrayLike) -> Command:
        """Joint efforts, N·m (N)."""
        return cls("effort", np.asarray(tau_nm, dtype=np.float64))

    @classmethod
    def twist(cls, linear_x_mps: float, angular_z_radps: float, linear_y_mps: float = 0.0) -> Command:
        """A body twist for a base: forward speed, yaw rate, and sideways speed (holonomic)."""
        return cls("twist", np.array([linear_x_mps, linear_y_mps, angular_z_radps]))

    def check_for(self, spec: RobotSpec) -> None:
        """Raise :class:`CommandError` unless this command fits ``spec``'s interface and size."""
        if self.interface != spec.command_interface:
            raise CommandError(
                f"a {self.interface} command was sent to '{spec.name}', which takes "
                f"{spec.command_interface} commands; convert it or change command_interface in "
                f"{spec.yaml_path.name}"
            )
        if self.values.shape != (spec.command_size,):
            what = TWIST_COMPONENTS if self.interface == "twist" else spec.joint_names
            raise CommandError(
                f"a {self.interface} command for '{spec.name}' has {self.values.size} values, "
                f"expected {spec.command_size} ({', '.join(what)})"
            )
