"""The safety layer: what stands between every policy and every ``Robot.write``, in sim too.

Per command, in order: an engaged e-stop or a stale state (watchdog) gives a hold command;
a command with NaN or inf is rejected (the robot is brought to rest, not jerked); the optional
low-pass filter smooths it; limits and rate limits bound it (``hardware.limits``).

Holding means: position interface, stay at the last position target sent; velocity, effort and
twist interfaces, zero (as diff_drive_controller does on a command timeout). An effort-controlled
arm therefore relies on its brakes or its own gravity compensation while held.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from hardware.command import Command
from hardware.limits import all_finite, limit_position_step, limit_velocity, low_pass, low_pass_alpha, rate_limit
from hardware.spec import RobotSpec, SafetyConfig
from hardware.state import FloatArray, RobotState


@dataclass(frozen=True)
class SafetyReport:
    """What the safety layer did to one command.

    :param held: the output is a hold command (e-stop or watchdog).
    :param estop: the e-stop latch is engaged.
    :param watchdog: the state was older than the watchdog timeout.
    :param nonfinite: the command had NaN or inf and was replaced by a stop.
    :param changed: the output differs from the command (clamped, rate limited or filtered).
    :param state_age_s: age of the state the decision used, s.
    """

    held: bool = False
    estop: bool = False
    watchdog: bool = False
    nonfinite: bool = False
    changed: bool = False
    state_age_s: float = 0.0


class SafetyLayer:
    """Filters commands for one robot; keeps the last output to rate-limit the next one.

    :param spec: the robot's contract (limits, interface, control rate).
    :param config: watchdog and filter settings; the spec's ``safety`` section when ``None``.
    """

    def __init__(self, spec: RobotSpec, config: SafetyConfig | None = None) -> None:
        self.spec = spec
        self.config = config if config is not None else spec.safety
        self.dt = spec.control_period_s
        cutoff = self.config.low_pass_cutoff_hz
        self._alpha = low_pass_alpha(cutoff, self.dt) if cutoff is not None else None
        self._estop_reason: str | None = None
        self._last: FloatArray | None = None  # last output values
        self._last_velocity = np.zeros(spec.command_size)  # implied velocity of the last position step

    # --- e-stop ------------------------------------------------------------------------------

    @property
    def estopped(self) -> bool:
        """True while the e-stop latch is engaged."""
        return self._estop_reason is not None

    @property
    def estop_reason(self) -> str | None:
        return self._estop_reason

    def engage_estop(self, reason: str = "e-stop") -> None:
        """Latch the e-stop: every command is a hold until :meth:`reset_estop`."""
        if self._estop_reason is None:
            self._estop_reason = reason

    def reset_estop(self) -> None:
        """Release the e-stop. Motion resumes from the held command, within the rate limits."""
        self._estop_reason = None

    # --- filtering ---------------------------------------------------------------------------

    def reset(self, state: RobotState) -> None:
        """Start over from a measured state at rest (after a robot reset, or at startup)."""
        self._last = self._rest_values(state)
        self._last_velocity = np.zeros(self.spec.command_size)

    def filter(self, command: Command, state: RobotState, now_ns: int) -> tuple[Command, SafetyReport]:
        """The command that is safe to send now, and what was done to it.

        :param command: what the policy wants, in the robot's interface and size.
        :param state: the latest state of the robot.
        :param now_ns: the current time on the clock of ``state.stamp_ns``, ns.
        :raises CommandError: the command's interface or size does not fit the robot.
        """
        command.check_for(self.spec)
        if self._last is None:
            self.reset(state)
        age_s = state.age_s(now_ns)
        stale = age_s > self.config.watchdog_timeout_s
        if self.estopped or stale:
            return self._hold(), SafetyReport(held=True, estop=self.estopped, watchdog=stale, state_age_s=age_s)

        nonfinite = not all_finite(command.values)
        desired = self._stop_values() if nonfinite else command.values
        assert self._last is not None
        if self._alpha is not None:
            desired = low_pass(desired, self._last, self._alpha)
        values = self._limit(desired, state)
        self._last = values
        changed = nonfinite or not np.array_equal(values, command.values)
        return Command(self.spec.command_interface, values), SafetyReport(
            nonfinite=nonfinite, changed=changed, state_age_s=age_s
        )

    def hold_command(self, state: RobotState | None = None) -> Command:
        """The hold command, without changing the e-stop or watchdog (e.g. on deactivate)."""
        if self._last is None and state is not None:
            self.reset(state)
        return self._hold()

    def _limit(self, desired: FloatArray, state: RobotState) -> FloatArray:
        spec, dt = self.spec, self.dt
        assert self._last is not None
        interface = spec.command_interface
        if interface == "position":
            values, self._last_velocity = limit_position_step(
                desired,
                self._last,
                self._last_velocity,
                lower=spec.position_lower,
                upper=spec.position_upper,
                max_velocity=spec.max_velocity,
                max_acceleration=spec.max_acceleration,
                dt=dt,
            )
            return values
        if interface == "velocity":
            return limit_velocity(
                desired,
                self._last,
                position=state.position,
                lower=spec.position_lower,
                upper=spec.position_upper,
                max_velocity=spec.max_velocity,
                max_acceleration=spec.max_acceleration,
                dt=dt,
            )
        if interface == "effort":
            limited = rate_limit(desired, self._last, spec.max_effort_rate * dt)
            return np.clip(limited, -spec.max_effort, spec.max_effort)
        limited = rate_limit(desired, self._last, spec.twist_acceleration_limit * dt)
        return np.clip(limited, -spec.twist_limit, spec.twist_limit)

    def _hold(self) -> Command:
        """Position: stay at the last target. Others: zero. Resets the rate limiter's memory."""
        assert self._last is not None
        if self.spec.command_interface != "position":
            self._last = self._stop_values()
        self._last_velocity = np.zeros(self.spec.command_size)
        return Command(self.spec.command_interface, self._last)

    def _stop_values(self) -> FloatArray:
        """What a rejected command is replaced by: come to rest (rate limited), not jump."""
        assert self._last is not None
        return self._last.copy() if self.spec.command_interface == "position" else np.zeros(self.spec.command_size)

    def _rest_values(self, state: RobotState) -> FloatArray:
        if self.spec.command_interface == "position":
            if state.position.shape != (self.spec.dof,) or not all_finite(state.position):
                raise ValueError(
                    f"cannot start the safety layer of '{self.spec.name}' from joint positions "
                    f"{state.position}: expected {self.spec.dof} finite values"
                )
            return state.position.astype(np.float64).copy()
        return np.zeros(self.spec.command_size)


class SafeRobot:
    """A :class:`~hardware.robot.Robot` whose every ``write`` passes the safety layer first.

    :param robot: the robot to protect (simulated, real or replayed).
    :param clock_ns: the clock that ``robot.read().stamp_ns`` is on; ``time.monotonic_ns`` for
        a real robot, simulation time for a simulator.
    :param config: safety settings; the robot spec's when ``None``.
    """

    def __init__(
        self,
        robot: object,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        config: SafetyConfig | None = None,
    ) -> None:
        from hardware.robot import Robot

        if not isinstance(robot, Robot):
            raise TypeError(f"{type(robot).__name__} does not implement hardware.Robot")
        self.robot: Robot = robot
        self.layer = SafetyLayer(robot.spec, config)
        self.clock_ns = clock_ns
        self.last_report = SafetyReport()
        self._state: RobotState | None = None

    @property
    def spec(self) -> RobotSpec:
        return self.robot.spec

    def read(self) -> RobotState:
        self._state = self.robot.read()
        return self._state

    def write(self, command: Command) -> Command:
        """Filter ``command`` against the latest state read, send it, and return what was sent."""
        state = self._state if self._state is not None else self.read()
        safe, self.last_report = self.layer.filter(command, state, self.clock_ns())
        self.robot.write(safe)
        return safe

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        self._state = self.robot.reset(seed=seed, position=position)
        self.layer.reset(self._state)
        return self._state

    def close(self) -> None:
        """Send one hold command, then close the robot: it is left holding still."""
        try:
            if self._state is not None:
                self.robot.write(self.layer.hold_command(self._state))
        finally:
            self.robot.close()

    def engage_estop(self, reason: str = "e-stop") -> None:
        """Latch the e-stop and send the hold command at once, not at the next write."""
        self.layer.engage_estop(reason)
        if self._state is not None:
            self.robot.write(self.layer.hold_command(self._state))

    def reset_estop(self) -> None:
        self.layer.reset_estop()
