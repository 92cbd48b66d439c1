"""Pure limit functions: the arithmetic of the safety layer, with no state and no robot.

All take and return numpy arrays, element-wise per joint (or twist component). ``dt`` is the
control period in s. A limit of ``inf`` means no limit.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def all_finite(values: FloatArray) -> bool:
    """True when no value is NaN or ±inf."""
    return bool(np.all(np.isfinite(values)))


def low_pass_alpha(cutoff_hz: float, dt: float) -> float:
    """Smoothing factor of a first-order low-pass filter sampled every ``dt`` s.

    The exact discretisation of ``y' = 2π fc (x - y)``: ``alpha = 1 - exp(-2π fc dt)``.
    """
    return 1.0 - math.exp(-2.0 * math.pi * cutoff_hz * dt)


def low_pass(target: FloatArray, previous: FloatArray, alpha: float) -> FloatArray:
    """One step of the first-order filter: move ``alpha`` of the way from ``previous`` to ``target``."""
    return previous + alpha * (target - previous)


def rate_limit(target: FloatArray, previous: FloatArray, max_step: FloatArray) -> FloatArray:
    """``target``, moved no more than ``max_step`` away from ``previous``."""
    return np.clip(target, previous - max_step, previous + max_step)


def braking_speed_limit(distance: FloatArray, *, dt: float, max_acceleration: FloatArray) -> FloatArray:
    """Largest speed that can be held for one step and then braked to rest within ``distance``.

    Braking lowers the speed by ``max_acceleration * dt`` per step, as the rate limiter allows,
    so a joint that respects this bound can always stop before its limit without exceeding its
    acceleration. With ``d = max_acceleration * dt``, a speed ``s`` with ``n = floor(s / d)``
    covers ``dt * ((n + 1) s - d n (n + 1) / 2)`` before it is at rest; this inverts that
    piecewise-linear, increasing function in closed form.

    :param distance: room left before the limit, ≥ 0 (negative is treated as 0), rad (m).
    :param dt: control period, s.
    :param max_acceleration: rad/s² (m/s²), > 0; ``inf`` gives ``distance / dt``.
    :returns: the speed bound, ≥ 0, rad/s (m/s).
    """
    room = np.maximum(distance, 0.0)
    step = max_acceleration * dt
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf is the right answer there
        area = room / (dt * step)  # in units of one braking step; 0 where step is inf
        n = np.floor((np.sqrt(1.0 + 8.0 * area) - 1.0) / 2.0)
        speed = room / (dt * (n + 1.0)) + step * n / 2.0
    # Unlimited acceleration (or unlimited room: inf/inf) comes out as NaN above.
    speed = np.where(np.isinf(step), room / dt, speed)
    return np.where(np.isinf(room), np.inf, speed)


def limit_velocity(
    desired: FloatArray,
    previous: FloatArray,
    *,
    position: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    max_velocity: FloatArray,
    max_acceleration: FloatArray,
    dt: float,
) -> FloatArray:
    """The velocity closest to ``desired`` that every limit allows.

    In order of priority (a later limit wins when they conflict): at most
    ``max_acceleration * dt`` away from ``previous``; slow enough to brake before the position
    limits from ``position``; at most ``max_velocity``. From a position outside the limits it
    allows motion back inside only.

    :param desired: wanted velocity, rad/s.
    :param previous: velocity of the last step, rad/s.
    :param position: where the joint is now, rad.
    """
    room = np.concatenate([upper - position, position - lower])
    up, down = np.split(braking_speed_limit(room, dt=dt, max_acceleration=np.tile(max_acceleration, 2)), 2)
    return _bound_velocity(desired, previous, up, down, max_velocity, max_acceleration * dt)


def _bound_velocity(
    desired: FloatArray,
    previous: FloatArray,
    up: FloatArray,
    down: FloatArray,
    max_velocity: FloatArray,
    max_change: FloatArray,
) -> FloatArray:
    velocity = np.clip(desired, previous - max_change, previous + max_change)
    velocity = np.clip(velocity, -down, up)
    return np.clip(velocity, -max_velocity, max_velocity)


def limit_position_step(
    target: FloatArray,
    previous: FloatArray,
    previous_velocity: FloatArray,
    *,
    lower: FloatArray,
    upper: FloatArray,
    max_velocity: FloatArray,
    max_acceleration: FloatArray,
    dt: float,
) -> tuple[FloatArray, FloatArray]:
    """The next position target on the way from ``previous`` to ``target``.

    Guarantees, from a ``previous`` inside ``[lower, upper]`` reached by earlier calls: the
    result stays inside the limits, moves at most ``max_velocity * dt``, and its implied
    velocity changes by at most ``max_acceleration * dt`` per step, braking ahead of a limit
    rather than stopping dead at it. From a ``previous`` outside the limits (a robot started
    out of bounds) it never moves further out.

    :param target: wanted positions, rad; clipped to the limits first.
    :param previous: the last position target sent, rad.
    :param previous_velocity: the implied velocity of the last step, rad/s.
    :returns: the next position target, rad, and its implied velocity, rad/s.
    """
    low = np.minimum(lower, previous)
    high = np.maximum(upper, previous)
    error = np.clip(target, lower, upper) - previous
    # One call for three distances (to the goal, to each limit): this is the layer's hot path.
    room = np.concatenate([np.abs(error), high - previous, previous - low])
    approach, up, down = np.split(braking_speed_limit(room, dt=dt, max_acceleration=np.tile(max_acceleration, 3)), 3)
    # Head for the goal no faster than we can brake to rest on it: no overshoot, no ringing.
    velocity = _bound_velocity(
        np.sign(error) * approach, previous_velocity, up, down, max_velocity, max_acceleration * dt
    )
    position = np.clip(previous + velocity * dt, low, high)
    return position, (position - previous) / dt
