"""SafeRobot: the safety layer in front of a Robot's write.

The robot here is a test double that stands in for a physical arm (which cannot exist in this
test): it applies position commands exactly and stamps its state with the test's clock.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import ArrayLike

from hardware import Command, Robot, RobotSpec, RobotState
from hardware.errors import CommandError
from hardware.safety import SafeRobot
from tests.hardware.specs import make_spec


class KinematicArm:
    """A perfect position-controlled arm: the position is the last command it received."""

    def __init__(self, spec: RobotSpec, clock: list[int]) -> None:
        self._spec = spec
        self.clock = clock
        self.position = np.zeros(spec.dof)
        self.received: list[Command] = []
        self.closed = False
        self.state_updates = True

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    def read(self) -> RobotState:
        if self.state_updates:
            self.stamp = self.clock[0]
        return RobotState(self.stamp, self.position.copy())

    def write(self, command: Command) -> Command:
        self.received.append(command)
        self.position = command.values.copy()
        return command

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        self.position = np.zeros(self._spec.dof) if position is None else np.asarray(position, dtype=float)
        return self.read()

    def close(self) -> None:
        self.closed = True


def make() -> tuple[SafeRobot, KinematicArm, list[int]]:
    clock = [0]
    arm = KinematicArm(make_spec("position"), clock)
    return SafeRobot(arm, clock_ns=lambda: clock[0]), arm, clock


def test_safe_robot_is_a_robot_and_returns_what_it_sent() -> None:
    robot, arm, clock = make()
    assert isinstance(robot, Robot)
    robot.reset(position=[0.1, 0.0, 0.1])
    applied = robot.write(Command.position([10.0, np.nan, 10.0]))
    assert applied is arm.received[-1]
    np.testing.assert_array_equal(applied.values, [0.1, 0.0, 0.1])  # NaN rejected: stays at rest
    assert robot.last_report.nonfinite
    for _ in range(200):  # 1.9 rad at 2 rad/s and 8 rad/s² takes 1.2 s
        clock[0] += 10_000_000
        robot.read()
        applied = robot.write(Command.position([10.0, 0.0, 10.0]))
    assert applied.values[0] == arm.spec.position_upper[0] and applied.values[2] == arm.spec.position_upper[2]


def test_wrong_interface_or_size_is_a_clear_error() -> None:
    robot, _, _ = make()
    robot.reset()
    with pytest.raises(CommandError, match="takes position commands"):
        robot.write(Command.velocity([0.0, 0.0, 0.0]))
    with pytest.raises(CommandError, match=r"has 2 values, expected 3 \(shoulder, wrist, slide\)"):
        robot.write(Command.position([0.0, 0.0]))


def test_stale_state_holds_and_estop_holds_at_once() -> None:
    robot, arm, clock = make()
    robot.reset()
    for _ in range(5):
        clock[0] += 10_000_000
        robot.read()
        robot.write(Command.position([1.0, 1.0, 0.2]))
    moving = arm.position.copy()
    arm.state_updates = False  # the joint states stop arriving
    for _ in range(20):
        clock[0] += 10_000_000
        robot.read()
        robot.write(Command.position([1.0, 1.0, 0.2]))
    assert robot.last_report.watchdog and robot.last_report.held
    assert not np.allclose(arm.position, [1.0, 1.0, 0.2])
    held = arm.position.copy()
    assert np.all(np.abs(held - moving) <= arm.spec.max_velocity * 0.1 + 1e-9)  # moved only until the timeout
    arm.state_updates = True
    sent = len(arm.received)
    robot.engage_estop("bumper")
    assert len(arm.received) == sent + 1, "the e-stop sends a hold immediately, not at the next write"
    np.testing.assert_array_equal(arm.received[-1].values, held)


def test_close_leaves_the_robot_holding() -> None:
    robot, arm, clock = make()
    robot.reset()
    clock[0] += 10_000_000
    robot.read()
    robot.write(Command.position([1.0, 0.0, 0.0]))
    last = arm.received[-1].values.copy()
    robot.close()
    assert arm.closed
    np.testing.assert_array_equal(arm.received[-1].values, last)
