"""A mobile base's side of a task: twist actions and the features of its laser and odometry.

Everything here reads a :class:`hardware.RobotState` only (the ROS policy node runs the same
code on ``odom`` and ``scan``):

- :func:`twist_command`: an action in [-1, 1]² is (forward speed, yaw rate) as fractions of the
  base's limits, sent as a twist; NaN passes through for the safety layer to reject.
- :func:`scan_features`: the scan min-pooled into sectors (the nearest return in each), beams
  with no return (``inf``) read as ``range_max``, divided by ``range_max``: 0 is touching, 1
  is nothing in range.
- :func:`velocity_features`: odometry speed and yaw rate as fractions of the limits.
- :func:`relative_goal`: distance and bearing of a goal given in the odometry frame.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import LaserSpec, RobotSpec
from hardware.state import Odometry, RobotState
from sim.tasks.task import unit_action

#: Odometry velocity features are clipped at this many times the base's limits.
VELOCITY_FEATURE_BOUND = 1.5


def require_base(spec: RobotSpec, task: str) -> LaserSpec:
    """The base's laser; raises ``ValueError`` unless ``spec`` is a twist-driven base with one."""
    if spec.kind != "base" or spec.command_interface != "twist":
        raise ValueError(f"{task} drives a mobile base with twist commands; '{spec.name}' is a {spec.kind}")
    if spec.sensors.laser is None:
        raise ValueError(f"{task} observes a 2D laser; add sensors.laser to {spec.yaml_path.name}")
    return spec.sensors.laser


def twist_command(spec: RobotSpec, action: ArrayLike) -> Command:
    """The twist for ``action`` = (forward, turn) in [-1, 1] (clipped), scaled to the base's limits."""
    forward, turn = unit_action(action, 2)
    return Command.twist(forward * spec.twist_limit[0], turn * spec.twist_limit[2])


def sector_bounds(num_beams: int, sectors: int) -> NDArray[np.intp]:
    """Index of the first beam of each sector (sectors as equal as the beam count allows).

    :raises ValueError: more sectors than beams, or fewer than one.
    """
    if not 1 <= sectors <= num_beams:
        raise ValueError(f"scan_sectors must be between 1 and the laser's {num_beams} beams, got {sectors}")
    return np.linspace(0, num_beams, sectors + 1).astype(np.intp)[:-1]


def scan_features(laser: LaserSpec, state: RobotState, sectors: int) -> NDArray[np.float64]:
    """The nearest return in each of ``sectors`` consecutive groups of beams, over ``range_max``.

    Sector ``i`` covers the beams from ``sector_bounds(...)[i]`` to the next sector's first.

    :raises ValueError: the state has no scan, or its beam count differs from the laser's.
    """
    if state.scan is None:
        raise ValueError("the robot state has no laser scan; wait for the first scan before observing")
    ranges = state.scan.ranges_m
    if ranges.shape != (laser.num_beams,):
        raise ValueError(f"scan has {ranges.size} beams, the laser spec says {laser.num_beams}")
    ranges = np.clip(np.nan_to_num(ranges, nan=laser.range_max_m, posinf=laser.range_max_m), 0.0, laser.range_max_m)
    return np.minimum.reduceat(ranges, sector_bounds(laser.num_beams, sectors)) / laser.range_max_m


def velocity_features(spec: RobotSpec, state: RobotState) -> NDArray[np.float64]:
    """Odometry forward speed and yaw rate over the base's limits, clipped to ``±VELOCITY_FEATURE_BOUND``."""
    odometry = require_odometry(state)
    values = np.array([odometry.linear_x_mps / spec.twist_limit[0], odometry.angular_z_radps / spec.twist_limit[2]])
    return np.clip(values, -VELOCITY_FEATURE_BOUND, VELOCITY_FEATURE_BOUND)


def relative_goal(state: RobotState, goal_xy: ArrayLike) -> tuple[float, float]:
    """Distance, m, and bearing, rad (counter-clockwise from the heading), of a goal in the
    odometry frame, seen from the base's odometry pose."""
    odometry = require_odometry(state)
    gx, gy = np.asarray(goal_xy, dtype=np.float64).reshape(2)
    dx, dy = gx - odometry.x_m, gy - odometry.y_m
    bearing = math.atan2(dy, dx) - odometry.yaw_rad
    return math.hypot(dx, dy), math.remainder(bearing, math.tau)


def require_odometry(state: RobotState) -> Odometry:
    """``state.odometry``, or a ``ValueError`` naming what is missing."""
    if state.odometry is None:
        raise ValueError("the robot state has no odometry; base tasks need the base's odom")
    return state.odometry
