"""Differential-drive kinematics: a twist to wheel speeds, and wheel motion to odometry.

The same arithmetic as ros2_control's ``diff_drive_controller``, so simulated odometry drifts the
way a real base's does: it integrates what the wheels turned, not where the robot went.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from hardware.spec import BaseSpec
from hardware.state import Odometry


def wheel_speeds(base: BaseSpec, linear_x_mps: float, angular_z_radps: float) -> NDArray[np.float64]:
    """Left and right wheel angular velocities, rad/s, for a body twist (sideways speed: none)."""
    half_track = base.wheel_separation_m / 2
    left = (linear_x_mps - angular_z_radps * half_track) / base.wheel_radius_m
    right = (linear_x_mps + angular_z_radps * half_track) / base.wheel_radius_m
    return np.array([left, right])


class WheelOdometry:
    """Dead reckoning from wheel angles, as ``diff_drive_controller`` does it.

    :param base: wheel radius and separation.
    """

    def __init__(self, base: BaseSpec) -> None:
        self.base = base
        self.reset(np.zeros(2))

    def reset(self, wheel_angles_rad: NDArray[np.float64]) -> None:
        """Start over at the origin, heading +x, with the wheels at these angles (left, right)."""
        self._last = np.array(wheel_angles_rad, dtype=np.float64)
        self.x_m = self.y_m = self.yaw_rad = 0.0
        self.linear_mps = self.angular_radps = 0.0

    def update(self, wheel_angles_rad: NDArray[np.float64], dt_s: float) -> Odometry:
        """Integrate the wheel motion since the last call, ``dt_s`` seconds ago."""
        angles = np.asarray(wheel_angles_rad, dtype=np.float64)
        left, right = (angles - self._last) * self.base.wheel_radius_m  # distance rolled, m
        self._last = angles.copy()
        distance = (left + right) / 2
        turn = (right - left) / self.base.wheel_separation_m
        # Second-order Runge-Kutta: move along the mean heading of the interval.
        heading = self.yaw_rad + turn / 2
        self.x_m += distance * math.cos(heading)
        self.y_m += distance * math.sin(heading)
        self.yaw_rad = math.remainder(self.yaw_rad + turn, math.tau)
        if dt_s > 0:
            self.linear_mps, self.angular_radps = distance / dt_s, turn / dt_s
        return self.odometry()

    def odometry(self) -> Odometry:
        return Odometry(
            x_m=self.x_m,
            y_m=self.y_m,
            yaw_rad=self.yaw_rad,
            linear_x_mps=self.linear_mps,
            angular_z_radps=self.angular_radps,
        )
