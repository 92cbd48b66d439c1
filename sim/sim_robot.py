"""What ``MujocoRobot`` and ``PybulletRobot`` do alike, whichever simulator is underneath:
accepting a raw command, choosing the start pose, the hold command, sensor noise."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.errors import CommandError
from hardware.spec import LaserSpec, RobotSpec
from hardware.state import LaserScan, Odometry, RobotState
from sim.diff_drive import WheelOdometry
from sim.dynamics import DynamicsParams


def accept_command(spec: RobotSpec, command: Command) -> Command:
    """``command`` clipped to what the simulated actuators take, as a raw driver would accept it.

    :raises CommandError: wrong interface or size, or values that are NaN or infinite.
    """
    command.check_for(spec)
    values = command.values
    if not np.isfinite(values).all():
        raise CommandError(
            f"command {values} for '{spec.name}' is not finite; put "
            "hardware.safety.SafeRobot in front of a simulated robot to filter commands"
        )
    interface = spec.command_interface
    if interface == "position":
        low, high = spec.position_lower, spec.position_upper
    elif interface == "velocity":
        low, high = -spec.max_velocity, spec.max_velocity
    elif interface == "effort":
        low, high = -spec.max_effort, spec.max_effort
    else:
        low, high = -spec.twist_limit, spec.twist_limit
    return Command(interface, np.minimum(np.maximum(values, low), high))


def start_position(
    spec: RobotSpec, position: ArrayLike | None, rng: np.random.Generator, noise: float
) -> NDArray[np.float64]:
    """Joint positions to reset to: ``position`` (or home) plus uniform ``noise`` (rad), within limits.

    :raises ValueError: ``position`` is not one finite value per joint.
    """
    q = spec.home_position.copy() if position is None else np.asarray(position, dtype=np.float64).reshape(-1)
    if q.shape != (spec.dof,) or not np.all(np.isfinite(q)):
        raise ValueError(f"reset position for '{spec.name}' must be {spec.dof} finite values, got {position!r}")
    if noise:
        q = q + rng.uniform(-1.0, 1.0, spec.dof) * noise
    return np.clip(q, spec.position_lower, spec.position_upper)


def hold_command(spec: RobotSpec, target: NDArray[np.float64]) -> Command:
    """Stay at ``target`` (position interface), or stop (the others)."""
    if spec.command_interface == "position":
        return Command("position", target)
    return Command(spec.command_interface, np.zeros(spec.command_size))


def measured_state(
    stamp_ns: int,
    position: NDArray[np.float64],
    velocity: NDArray[np.float64],
    effort: NDArray[np.float64],
    odometry: WheelOdometry | None,
    scan: LaserScan | None,
    dynamics: DynamicsParams,
    rng: np.random.Generator,
) -> RobotState:
    """What the robot reports: the simulator's values plus the dynamics' sensor noise."""
    if dynamics.position_noise_std:
        position = position + rng.normal(0.0, dynamics.position_noise_std, position.shape)
    if dynamics.velocity_noise_std:
        velocity = velocity + rng.normal(0.0, dynamics.velocity_noise_std, velocity.shape)
    return RobotState(
        stamp_ns=stamp_ns,
        position=position,
        velocity=velocity,
        effort=effort,
        odometry=noisy_odometry(odometry.odometry(), rng, dynamics.odometry_noise_std) if odometry else None,
        scan=scan,
    )


def noisy_odometry(odometry: Odometry, rng: np.random.Generator, std: float) -> Odometry:
    """``odometry`` with Gaussian noise of ``std`` on x, y (m) and yaw (rad)."""
    if not std:
        return odometry
    dx, dy, dyaw = rng.normal(0.0, std, 3)
    return dataclasses.replace(odometry, x_m=odometry.x_m + dx, y_m=odometry.y_m + dy, yaw_rad=odometry.yaw_rad + dyaw)


def laser_scan(
    ranges_m: NDArray[np.float64],
    hit: NDArray[np.bool_],
    laser: LaserSpec,
    rng: np.random.Generator,
    noise_std: float,
    stamp_ns: int,
) -> LaserScan:
    """A scan from cast ranges: noise added, misses and readings outside the laser's range as inf."""
    ranges = ranges_m.astype(np.float64, copy=True)
    if noise_std:
        ranges += rng.normal(0.0, noise_std, ranges.shape)
    ranges[~hit | (ranges < laser.range_min_m) | (ranges > laser.range_max_m)] = np.inf
    return LaserScan(stamp_ns=stamp_ns, ranges_m=ranges)
