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
    return bool(np.isfinite(values).all())


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
    return np.minimum(np.maximum(target, previous - max_step), previous + max_step)


def braking_speed(distance: float, *, dt: float, max_acceleration: float) -> float:
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
    if distance <= 0.0:
        return 0.0
    step = max_acceleration * dt
    if step == math.inf:
        return distance / dt
    area = 8.0 * distance / (dt * step)
    if area == math.inf:  # unlimited room (or so much that the bound is astronomical)
        return math.inf
    n = math.floor((math.sqrt(1.0 + area) - 1.0) / 2.0)
    return distance / (dt * (n + 1.0)) + step * n / 2.0


def braking_speed_limit(distance: FloatArray, *, dt: float, max_acceleration: FloatArray) -> FloatArray:
    """:func:`braking_speed` per element (``distance`` and ``max_acceleration`` broadcast)."""
    room, acceleration = np.broadcast_arrays(np.asarray(distance, dtype=np.float64), max_acceleration)
    speeds = [braking_speed(d, dt=dt, max_acceleration=a) for d, a in zip(room.flat, acceleration.flat, strict=True)]
    return np.array(speeds).reshape(room.shape)


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
    out = []
    for want, last, q, low, high, vmax, amax in zip(
        desired.tolist(), previous.tolist(), position.tolist(), lower.tolist(), upper.tolist(),
        max_velocity.tolist(), max_acceleration.tolist(), strict=True,
    ):  # fmt: skip
        up = braking_speed(high - q, dt=dt, max_acceleration=amax)
        down = braking_speed(q - low, dt=dt, max_acceleration=amax)
        out.append(_bound_velocity(want, last, up, down, vmax, amax * dt))
    return np.array(out)


def _bound_velocity(
    desired: float, previous: float, up: float, down: float, max_velocity: float, max_change: float
) -> float:
    velocity = min(max(desired, previous - max_change), previous + max_change)
    velocity = min(max(velocity, -down), up)
    return min(max(velocity, -max_velocity), max_velocity)


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
    # Plain floats per joint: this is the safety layer's hot path, and numpy's per-call cost
    # on six-element arrays is several times the arithmetic.
    positions, velocities = [], []
    for want, last, last_velocity, low, high, vmax, amax in zip(
        target.tolist(), previous.tolist(), previous_velocity.tolist(), lower.tolist(), upper.tolist(),
        max_velocity.tolist(), max_acceleration.tolist(), strict=True,
    ):  # fmt: skip
        low, high = min(low, last), max(high, last)  # out of bounds: never further out
        error = min(max(want, low), high) - last
        # Head for the goal no faster than we can brake to rest on it: no overshoot, no ringing.
        approach = braking_speed(abs(error), dt=dt, max_acceleration=amax)
        up = braking_speed(high - last, dt=dt, max_acceleration=amax)
        down = braking_speed(last - low, dt=dt, max_acceleration=amax)
        velocity = _bound_velocity(
            math.copysign(approach, error) if error else 0.0, last_velocity, up, down, vmax, amax * dt
        )
        position = min(max(last + velocity * dt, low), high)
        positions.append(position)
        velocities.append((position - last) / dt)
    return np.array(positions), np.array(velocities)
