"""Play a bag back onto ROS 2 topics like ``ros2 bag play``: the ROS-free part, and :func:`play_bag`.

:class:`BagPlayback` opens a rosbag2 (MCAP, sqlite3) or ROS 1 bag and yields each message as
ROS 2 CDR bytes, ready for ``rclpy``'s ``Publisher.publish(bytes)``: rosbag2 messages as they are
in the bag (nothing re-serialized), ROS 1 messages converted with ``rosbags.convert`` (``Header``
loses ``seq``, ``time`` becomes ``builtin_interfaces/Time``). A topic whose type the ROS 2 message
set lacks is skipped, with one :class:`~episodes.errors.EpisodeWarning` naming it.

:class:`PlaybackClock` is the timing: message ``t_ns`` is due ``(t_ns - first_ns) / rate`` seconds
after the pass began, on the monotonic clock, so a slow publish is caught up rather than
accumulated. The ROS side (publishers, ``/clock``) is
:class:`sim2real_ros.player_node.PlayerNode`; :func:`play_bag` runs it in this process.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader

from episodes import topics as T
from episodes.errors import BagFormatError, EpisodeWarning
from episodes.reading import open_bag

Convert = Callable[[bytes | memoryview], bytes | memoryview]


@dataclass(frozen=True)
class PlayMessage:
    """One message to publish: ``topic`` of ROS 2 type ``msgtype``, logged at ``t_ns``, as CDR ``data``."""

    topic: str
    msgtype: str
    t_ns: int
    data: bytes


class BagPlayback:
    """The messages of a bag, converted to ROS 2 CDR, in log-time order.

    :param bag: a rosbag2 folder or a ROS 1 ``.bag``.
    :param start_offset_s: skip the first ``start_offset_s`` seconds of the bag (log time), s.
    :param mapping: a topic-mapping YAML (:mod:`episodes.topics`): play only the topics it names;
        ``None`` plays every topic.
    :raises BagNotFoundError, BagFormatError: the bag cannot be opened.
    :raises MappingError: the mapping file is malformed.
    :raises ValueError: a negative ``start_offset_s``.
    """

    def __init__(self, bag: Path | str, *, start_offset_s: float = 0.0, mapping: Path | str | None = None) -> None:
        if not start_offset_s >= 0.0:
            raise ValueError(f"start_offset_s is {start_offset_s}; give a non-negative number of seconds")
        self.path = Path(bag)
        self.start_offset_s = float(start_offset_s)
        wanted = set(T.TopicMapping.from_yaml(mapping).topics().values()) if mapping is not None else None
        from episodes.recording import ros2_typestore

        self._ros2 = ros2_typestore()
        with open_bag(self.path) as reader:
            self.bag_start_ns = int(reader.start_time)
            self.bag_end_ns = int(reader.end_time)
            self.is_ros1 = not reader.is2
            self.topics: dict[str, str] = {}
            self.skipped: dict[str, str] = {}
            for connection in reader.connections:
                if wanted is not None and connection.topic not in wanted:
                    continue
                if connection.msgtype in self._ros2.types:
                    self.topics[connection.topic] = connection.msgtype
                else:
                    self.skipped[connection.topic] = connection.msgtype
        if self.skipped:
            listed = ", ".join(f"{topic} ({msgtype})" for topic, msgtype in sorted(self.skipped.items()))
            warnings.warn(
                f"{self.path.name}: not playing {listed}: no ROS 2 definition of the type", EpisodeWarning, stacklevel=2
            )
        self.first_ns = self.bag_start_ns + round(self.start_offset_s * 1e9)

    @property
    def duration_s(self) -> float:
        """What a pass plays, bag time, s."""
        return max(self.bag_end_ns - self.first_ns, 0) * 1e-9

    def messages(self) -> Iterator[PlayMessage]:
        """One pass over the played topics from the start offset on (opens the bag again each call).

        :raises BagFormatError: the bag is damaged past some point (what came before was yielded).
        """
        with open_bag(self.path) as reader:
            connections = [c for c in reader.connections if c.topic in self.topics]
            converters = {c.id: self._converter(reader, c.msgtype) for c in connections}
            stream = reader.messages(connections=connections, start=self.first_ns)
            while True:
                try:
                    item = next(stream, None)
                except Exception as err:  # rosbags raises many kinds on a damaged file
                    raise BagFormatError(f"{self.path.name} is damaged and cannot be played on: {T.one_line(err)}; "
                                         "re-record it or cut it before the damage") from err  # fmt: skip
                if item is None:
                    return
                connection, t_ns, raw = item
                data = converters[connection.id](raw)
                yield PlayMessage(connection.topic, connection.msgtype, int(t_ns), bytes(data))

    def _converter(self, reader: AnyReader, msgtype: str) -> Convert:
        if not self.is_ros1:
            return bytes
        from rosbags.convert.converter import generate_message_converter

        # rosbags.convert prints a line per migrated type; the warning above is what users need.
        with contextlib.redirect_stdout(io.StringIO()):
            return generate_message_converter(
                reader.typestore, self._ros2, msgtype, msgtype, {}, src_is2=False, dst_is2=True
            )


class PlaybackClock:
    """When each message of a pass is due, on a monotonic clock.

    :param first_ns: the bag time that plays at ``wall_start_s``, ns.
    :param wall_start_s: the monotonic time the pass began, s.
    :param rate: playback speed (2: twice as fast), > 0.
    """

    def __init__(self, first_ns: int, wall_start_s: float, rate: float) -> None:
        if not rate > 0.0:
            raise ValueError(f"rate is {rate}; give a playback speed > 0 (1: as recorded)")
        self.first_ns = int(first_ns)
        self.wall_start_s = float(wall_start_s)
        self.rate = float(rate)

    def due_s(self, t_ns: int) -> float:
        """The monotonic time at which bag time ``t_ns`` is played, s."""
        return self.wall_start_s + (int(t_ns) - self.first_ns) * 1e-9 / self.rate

    def bag_time_ns(self, now_s: float) -> int:
        """The bag time playing at monotonic time ``now_s``, ns."""
        return self.first_ns + round((now_s - self.wall_start_s) * self.rate * 1e9)


def play_bag(
    bag: Path | str,
    *,
    rate: float = 1.0,
    clock: bool = False,
    loop: bool = False,
    start_offset_s: float = 0.0,
    mapping: Path | str | None = None,
) -> int:
    """Play ``bag`` onto ROS 2 topics in this process until done (or Ctrl-C); returns 0 (130 on Ctrl-C).

    :param rate: playback speed (2: twice as fast). :param clock: publish ``/clock`` with the bag's time.
    :param loop: start again at the end, until Ctrl-C. :param start_offset_s: skip the bag's first seconds.
    :param mapping: play only the topics a topic-mapping YAML names.
    :raises EpisodeError: the bag or the mapping cannot be read.
    """
    from sim2real_ros.player_node import run_player

    playback = BagPlayback(bag, start_offset_s=start_offset_s, mapping=mapping)
    return run_player(playback, rate=rate, clock=clock, loop=loop)
