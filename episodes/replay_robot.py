"""``ReplayRobot``: a :class:`hardware.Robot` that plays back a logged :class:`~episodes.episode.Episode`.

Anything that consumes a robot (tasks, :class:`policies.deploy.PolicyRunner`) runs on a log with it:
:meth:`ReplayRobot.read` returns the state logged at the current replay time, and
:meth:`ReplayRobot.write` records the command it was given (next to the one the log has at that
time, for comparison) and advances one control period of log time. The log is open loop: what is
written does not change what is read.

Clocks: the replay time walks the bag's log time from the episode's first joint state, one
control period per write. :meth:`ReplayRobot.now_ns` gives it on the clock of the logged header
stamps (the ``stamp_ns`` of the states :meth:`read` returns), so that the safety layer's watchdog,
which compares the two, sees each state's true age; :attr:`ReplayRobot.log_time_ns` gives it as
bag log time.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from episodes.episode import Episode
from episodes.errors import EpisodeError
from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState


class ReplayRobot:
    """A logged episode played back as a robot, one control period per :meth:`write`.

    :param episode: the episode to replay (from :func:`episodes.reading.read_episodes`).
    :param spec: the robot the episode was read for (the joint order and control rate).
    :raises EpisodeError: the episode has no joint states to replay.
    """

    def __init__(self, episode: Episode, spec: RobotSpec) -> None:
        if len(episode.states) == 0:
            raise EpisodeError(
                f"episode {episode.index} has no joint states; a replay needs them (check the topic mapping)"
            )
        self._spec = spec
        self.episode = episode
        self.period_ns = round(spec.control_period_s * 1e9)
        states = episode.states
        self.start_ns = int(states.t_ns[0])
        self.end_ns = int(states.t_ns[-1])
        # Header stamp minus log time at the start: moves replay (log) time onto the stamp clock.
        self._stamp_offset_ns = int(states.stamp_ns[0]) - self.start_ns
        #: The commands given to :meth:`write`, in order (compare with :attr:`logged_commands`).
        self.given: list[Command] = []
        #: The logged command in force at each write (``None`` before the log's first command).
        self.logged_commands: list[NDArray[np.float64] | None] = []
        self._now = self.start_ns

    # --- hardware.Robot ----------------------------------------------------------------------

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    @property
    def log_time_ns(self) -> int:
        """The replay time as bag log time, ns."""
        return self._now

    @property
    def elapsed_s(self) -> float:
        """Replay time since the episode's first joint state, s."""
        return (self._now - self.start_ns) * 1e-9

    @property
    def done(self) -> bool:
        """The replay time has reached the last logged joint state: there is nothing newer to read."""
        return self._now >= self.end_ns

    def now_ns(self) -> int:
        """The replay time on the clock of the logged header stamps, ns (see the module docstring)."""
        return self._now + self._stamp_offset_ns

    def read(self) -> RobotState:
        """The latest state logged at or before the replay time (the first one before it starts)."""
        return self.episode.state_at(self._now)

    def write(self, command: Command) -> Command:
        """Record ``command`` (and the logged one in force now), then advance one control period.

        :returns: ``command`` unchanged (a log has no actuators to clip it).
        :raises CommandError: the command does not fit the robot's interface or size.
        """
        command.check_for(self._spec)
        self.given.append(command)
        commands = self.episode.commands
        logged = None
        if len(commands) and commands.t_ns[0] <= self._now:
            logged = commands.values[commands.latest(self._now)].copy()
        self.logged_commands.append(logged)
        self._now += self.period_ns
        return command

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        """Back to the episode's start (the given and logged commands are cleared).

        :param seed: ignored: a log has no randomness.
        :param position: must be ``None``: a logged robot cannot be moved.
        :raises ValueError: a ``position`` was given.
        """
        if position is not None:
            raise ValueError(
                f"cannot reset a replayed '{self._spec.name}' to position {position!r}: a log cannot be moved; "
                "reset without a position (the episode's logged start)"
            )
        self._now = self.start_ns
        self.given.clear()
        self.logged_commands.clear()
        return self.read()

    def close(self) -> None:
        """Nothing to release (the episode is in memory)."""
