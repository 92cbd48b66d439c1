"""Read episodes from rosbag2 (MCAP, sqlite3) and ROS 1 bags, through ``rosbags``, as our robot's streams.

:func:`read_streams` converts every mapped message to the hardware contract's units and joint
order, one column per stream (joint states matched **by name**, yaw from the quaternion, ``inf``
for no return: :mod:`episodes.conversion`); :func:`read_episodes` cuts those columns into
:class:`~episodes.episode.Episode` objects at the ``/sim2real/episode`` markers. A bag without
markers (one we did not write) is one episode, index 0, outcome ``None``.

What does not fit the robot (a scan with another beam count, joint states missing a joint) and
corrupt messages are skipped with one :class:`EpisodeWarning` per topic naming the count and the fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from episodes import topics as T
from episodes.conversion import Marker, MessageConverter
from episodes.episode import Episode, Series
from episodes.errors import (
    BagFormatError,
    BagNotFoundError,
    EpisodeError,
    EpisodeWarning,
    MissingTopicError,
    UnknownMessageTypeError,
)
from hardware.spec import RobotSpec

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def custom_data(reader: AnyReader) -> dict[str, str]:
    """The custom data of an open bag (our recorder's run metadata: robot, bundle, git revision);
    empty for ROS 1 bags and bags we did not write."""
    data: dict[str, str] = {}
    for sub in reader.readers:
        metadata = getattr(getattr(sub, "storage", None), "metadata", None)
        data.update(getattr(metadata, "custom", None) or {})
    return data


@contextmanager
def open_bag(path: Path | str) -> Iterator[AnyReader]:
    """An open ``rosbags`` ``AnyReader`` on a rosbag2 folder (MCAP or sqlite3) or a ROS 1 ``.bag``.

    :raises BagNotFoundError: nothing at ``path``.
    :raises BagFormatError: ``rosbags`` cannot open it (truncated, corrupt, not a bag).
    """
    from episodes.recording import ros2_typestore

    path = Path(path)
    if not path.exists():
        raise BagNotFoundError(f"bag {path} does not exist; pass a rosbag2 folder or a ROS 1 .bag file")
    default = get_typestore(Stores.ROS1_NOETIC) if path.suffix == ".bag" else ros2_typestore()
    try:
        reader = AnyReader([path], default_typestore=default)
        reader.open()
    except Exception as err:  # rosbags raises many kinds (its own, struct, yaml, KeyError) on a bad file
        raise BagFormatError(
            f"cannot open bag {path.name}: {T.one_line(err)}; check that it is a complete rosbag2 folder or "
            "ROS 1 .bag (a truncated or damaged file must be re-recorded)"
        ) from err
    try:
        yield reader
    finally:
        reader.close()


def mapped_streams(path: Path, present: dict[str, str], mapping: T.TopicMapping) -> dict[str, str]:
    """``{topic: stream}`` of the mapped topics in a bag whose topics have types ``present``.

    :raises MissingTopicError: a required topic of the mapping is not in the bag.
    :raises UnknownMessageTypeError: a required topic has a type its stream does not accept (an
        optional one is skipped with an :class:`EpisodeWarning`).
    """
    streams: dict[str, str] = {}
    for stream, topic in mapping.topics().items():
        if topic not in present:
            if stream in mapping.required:
                raise MissingTopicError(
                    f"{path.name} has no topic {topic} (mapped to {stream}); it has {sorted(present)}: "
                    "fix the topic mapping"
                )
            continue
        if present[topic] not in T.STREAM_TYPES[stream]:
            accepted = " or ".join(T.STREAM_TYPES[stream])
            message = f"{path.name}: {topic} is {present[topic]}, but {stream} takes {accepted}"
            if stream in mapping.required:
                raise UnknownMessageTypeError(f"{message}; map another topic")
            warnings.warn(f"{message}: skipped its messages; map another topic", EpisodeWarning, stacklevel=3)
            continue
        streams[topic] = stream
    return streams


def read_streams(bag: Path | str, spec: RobotSpec, mapping: T.TopicMapping | None = None) -> MessageConverter:
    """Every mapped message of ``bag`` converted for ``spec``: the converter holds the streams'
    columns (:meth:`MessageConverter.series`) and the episode markers, in log-time order.

    :param mapping: which topic carries which stream; :meth:`TopicMapping.for_bag` if ``None``
        (the recorder's topics, or a ROS deployment's).
    :raises BagNotFoundError, BagFormatError: the bag cannot be opened or read.
    :raises MissingTopicError: a required topic of the mapping is not in the bag.
    :raises UnknownMessageTypeError: a mapped topic has a type its stream does not accept.
    """
    path = Path(bag)
    converter = MessageConverter(path, spec)
    corrupt: dict[str, int] = {}
    with open_bag(path) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        mapping = mapping or T.TopicMapping.for_bag(spec, present)
        streams = mapped_streams(path, present, mapping)
        connections = [c for c in reader.connections if c.topic in streams]
        convert = {c.id: converter.for_stream(streams[c.topic], c.topic) for c in connections}
        # The typestore's own call, not AnyReader.deserialize, which only picks it per message.
        typestore = reader.typestore
        deserialize = typestore.deserialize_cdr if reader.is2 else typestore.deserialize_ros1
        try:
            for connection, t_ns, raw in reader.messages(connections=connections):
                try:
                    convert[connection.id](t_ns, deserialize(raw, connection.msgtype))
                except Exception:  # a corrupt message (MCAP from rosbags has no CRC): skip it, say so below
                    corrupt[connection.topic] = corrupt.get(connection.topic, 0) + 1
        except EpisodeError:
            raise
        except Exception as err:  # rosbags raises many kinds on a damaged file
            raise BagFormatError(f"{path.name} is damaged and cannot be read on: {T.one_line(err)}; "
                                 "re-record it or cut it before the damage") from err  # fmt: skip
    for topic, count in corrupt.items():
        warnings.warn(f"{path.name}: skipped {count} corrupt messages on {topic}", EpisodeWarning, stacklevel=2)
    converter.report()
    return converter


def read_episodes(bag: Path | str, spec: RobotSpec, mapping: T.TopicMapping | None = None) -> list[Episode]:
    """The episodes of ``bag`` as streams of ``spec`` (see :func:`read_streams` for the errors).

    Messages read between a ``start i`` and the next ``end i ...`` marker belong to episode ``i``
    (a ``start`` without its ``end`` runs to the next ``start`` or the end of the bag); messages
    outside any episode are dropped. A bag without markers is one episode.
    """
    read = read_streams(bag, spec, mapping)
    beams = spec.sensors.laser.num_beams if spec.sensors.laser is not None else 0
    shapes = {
        "joint_states": (3, spec.dof),
        "odom": (6,),
        "scan": (beams,),
        "cmd_vel": (3,),
        "command": (spec.command_size,),
        "observation": (0,),
        "action": (0,),
        "reward": (1,),
    }
    whole = {stream: read.series(stream, shape) for stream, shape in shapes.items()}
    if not read.markers:
        if not any(len(series) for series in whole.values()):
            return []
        start = min(int(series.t_ns[0]) for series in whole.values() if len(series))
        return [_episode(0, None, start, _last_ns(whole, start), whole, spec)]
    episodes = []
    for bounds in _episode_bounds(read.markers, whole):
        parts = {stream: series.part(bounds.start.counts.get(stream, 0), bounds.end.counts.get(stream, 0))
                 for stream, series in whole.items()}  # fmt: skip
        end_ns = bounds.end.t_ns if bounds.ended else _last_ns(parts, bounds.start.t_ns)
        episodes.append(_episode(bounds.episode, bounds.outcome, bounds.start.t_ns, end_ns, parts, spec))
    return episodes


class _Bounds(NamedTuple):
    episode: int
    outcome: str | None
    start: Marker
    end: Marker
    ended: bool  # False: no end marker, cut at the next start or the end of the bag


def _episode_bounds(markers: list[Marker], whole: dict[str, Series]) -> Iterator[_Bounds]:
    """The markers paired into episodes, in order."""
    end_of_bag = Marker(_last_ns(whole, 0), "", {stream: len(series) for stream, series in whole.items()})
    opened: tuple[int, Marker] | None = None
    for marker in markers:
        parsed = T.parse_marker(marker.text)
        if parsed is not None and parsed.episode is not None:  # a start
            if opened is not None:
                yield _Bounds(opened[0], None, opened[1], marker, ended=False)
            opened = parsed.episode, marker
        elif parsed is not None and opened is not None:  # an end
            yield _Bounds(opened[0], parsed.outcome, opened[1], marker, ended=True)
            opened = None
    if opened is not None:
        yield _Bounds(opened[0], None, opened[1], end_of_bag, ended=False)


def _last_ns(streams: dict[str, Series], default: int) -> int:
    """Log time of the last message in ``streams``; ``default`` when they are all empty."""
    return max((int(series.t_ns[-1]) for series in streams.values() if len(series)), default=default)


def _episode(index: int, outcome: str | None, start_ns: int, end_ns: int, streams: dict[str, Series],
             spec: RobotSpec) -> Episode:  # fmt: skip
    return Episode(
        index=index,
        outcome=outcome,
        start_ns=start_ns,
        end_ns=end_ns,
        states=streams["joint_states"],
        odometry=streams["odom"],
        scans=streams["scan"],
        commands=streams["cmd_vel" if spec.command_interface == "twist" else "command"],
        command_interface=spec.command_interface,
        observations=streams["observation"],
        actions=streams["action"],
        rewards=streams["reward"],
    )
