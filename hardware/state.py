"""What a robot reports: joint states, and for bases odometry and a laser scan.

Arrays follow the joint order of the robot's :class:`~hardware.spec.RobotSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _empty() -> FloatArray:
    return np.zeros(0)


@dataclass(frozen=True, eq=False)
class Odometry:
    """Planar pose and body velocity of a base in its odometry frame.

    :param x_m: position, m. :param y_m: position, m. :param yaw_rad: heading, rad.
    :param linear_x_mps: forward speed in the body frame, m/s.
    :param linear_y_mps: sideways speed in the body frame, m/s.
    :param angular_z_radps: yaw rate, rad/s.
    """

    x_m: float
    y_m: float
    yaw_rad: float
    linear_x_mps: float = 0.0
    linear_y_mps: float = 0.0
    angular_z_radps: float = 0.0


@dataclass(frozen=True, eq=False)
class LaserScan:
    """One sweep of a planar laser: ``ranges_m[i]`` along ``spec.sensors.laser.angles_rad[i]``.

    Beams that hit nothing within range are ``inf``, as in ``sensor_msgs/LaserScan``.
    """

    stamp_ns: int
    ranges_m: FloatArray


@dataclass(frozen=True, eq=False)
class RobotState:
    """A timestamped reading of a robot.

    :param stamp_ns: when the state was measured, ns, on the clock the consumer uses (simulation
        time in sim, the steady clock of the receiving process on a robot). The safety layer's
        watchdog compares it with the same clock's ``now``.
    :param position: joint positions, rad (m).
    :param velocity: joint velocities, rad/s (m/s).
    :param effort: joint efforts, N·m (N); zeros where the robot does not report them.
    :param odometry: base odometry, ``None`` for arms.
    :param scan: the latest laser scan, ``None`` where there is no laser.
    """

    stamp_ns: int
    position: FloatArray
    velocity: FloatArray = field(default_factory=_empty)
    effort: FloatArray = field(default_factory=_empty)
    odometry: Odometry | None = None
    scan: LaserScan | None = None

    def __post_init__(self) -> None:
        # Lists and other sequences become float64 arrays; missing velocity and effort read as
        # zeros so consumers can always index them.
        position = np.asarray(self.position, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "position", position)
        for name in ("velocity", "effort"):
            values = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            object.__setattr__(self, name, values if values.size else np.zeros(position.size))

    def age_s(self, now_ns: int) -> float:
        """How old this state is at ``now_ns``, s."""
        return (now_ns - self.stamp_ns) * 1e-9
