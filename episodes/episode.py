"""The episode data model: a logged episode of a robot as time-stamped arrays in our units.

:func:`episodes.reading.read_episodes` makes them from a bag; :class:`episodes.replay_robot.ReplayRobot`,
``replay --in-sim``, offline evaluation and dataset export consume them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from hardware.state import LaserScan, Odometry, RobotState

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Series:
    """A time-stamped stream: ``values[i]`` logged at ``t_ns[i]``, header stamp ``stamp_ns[i]``."""

    t_ns: IntArray
    stamp_ns: IntArray
    values: FloatArray

    def __len__(self) -> int:
        return int(self.t_ns.size)

    def latest(self, t_ns: int) -> int:
        """Index of the last sample logged at or before ``t_ns`` (0 when all are later)."""
        return max(int(np.searchsorted(self.t_ns, t_ns, side="right")) - 1, 0)

    def part(self, start: int, stop: int) -> Series:
        """Samples ``start`` to ``stop - 1`` (views, not copies)."""
        return Series(self.t_ns[start:stop], self.stamp_ns[start:stop], self.values[start:stop])

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> Series:
        """No samples; each value has ``shape``."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, *shape)))


@dataclass(frozen=True)
class Episode:
    """One episode of a robot, every stream as a :class:`Series` (empty when the bag lacks it).

    :param index: the recorder's episode index (0 for a bag without markers).
    :param outcome: ``success`` / ``failure`` / ``aborted``... from the end marker; ``None`` if none.
    :param start_ns: log time of the start marker (first message without markers), ns.
    :param end_ns: log time of the end marker (last message without markers), ns.
    :param states: joint states; ``values`` is ``(N, 3, dof)``: position, velocity, effort in spec order.
    :param odometry: ``(N, 6)``: x_m, y_m, yaw_rad, vx_mps, vy_mps, wz_radps.
    :param scans: ``(N, beams)`` ranges, m, ``inf`` for no return.
    :param commands: ``(N, command_size)``: twists for a base, joint values for an arm.
    :param command_interface: the spec's command interface (what ``commands`` holds).
    """

    index: int
    outcome: str | None
    start_ns: int
    end_ns: int
    states: Series
    odometry: Series
    scans: Series
    commands: Series
    command_interface: str
    observations: Series = field(repr=False)
    actions: Series = field(repr=False)
    rewards: Series = field(repr=False)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9

    @property
    def positions(self) -> FloatArray:
        """Joint positions ``(N, dof)``, rad (m)."""
        return self.states.values[:, 0, :]

    @property
    def velocities(self) -> FloatArray:
        """Joint velocities ``(N, dof)``, rad/s (m/s)."""
        return self.states.values[:, 1, :]

    def state_at(self, t_ns: int) -> RobotState:
        """The robot as last logged at or before log time ``t_ns``: the latest joint state, with
        the latest odometry and scan when the episode has them (the first ones before it starts)."""
        values = self.states.values[i := self.states.latest(t_ns)]
        odometry = scan = None
        if len(self.odometry):
            odometry = Odometry(*(float(v) for v in self.odometry.values[self.odometry.latest(t_ns)]))
        if len(self.scans):
            k = self.scans.latest(t_ns)
            scan = LaserScan(stamp_ns=int(self.scans.stamp_ns[k]), ranges_m=self.scans.values[k])
        return RobotState(
            stamp_ns=int(self.states.stamp_ns[i]),
            position=values[0],
            velocity=values[1],
            effort=values[2],
            odometry=odometry,
            scan=scan,
        )
