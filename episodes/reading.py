"""Read episodes from rosbag2 (MCAP, sqlite3) and ROS 1 bags, through ``rosbags``, as our robot's streams.

:func:`iter_samples` yields each mapped message converted to the hardware contract's units and
joint order (joint states matched **by name**, yaw from the quaternion, ``inf`` for no return);
:func:`read_episodes` groups them into :class:`Episode` objects at the ``/sim2real/episode``
markers. A bag without markers (one we did not write) is one episode, index 0, outcome ``None``.

Laser scans whose beam count differs from the spec's laser are not silently resampled: they are
skipped with a warning naming the bag, the topic and both counts (fix ``sensors.laser`` or drop
``scan`` from the mapping).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from episodes import topics as T
from episodes.errors import BagFormatError, BagNotFoundError, EpisodeError, MissingTopicError, UnknownMessageTypeError
from hardware.spec import RobotSpec

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class EpisodeWarning(UserWarning):
    """Something in a bag was skipped (a stream that does not fit the robot, corrupt messages)."""


class Sample(NamedTuple):
    """One converted message (a named tuple: one is made per message read, and a frozen
    dataclass costs several times more to create).

    :param stream: the stream name (``joint_states``, ``odom``, ``scan``, ``cmd_vel``, ``command``,
        ``observation``, ``action``, ``reward``, ``episode``).
    :param t_ns: log time in the bag, ns.
    :param stamp_ns: header stamp, ns; ``t_ns`` for messages without a header.
    :param values: the numbers: joint states ``(3, dof)`` position / velocity / effort rows in spec
        order; odometry ``[x_m, y_m, yaw_rad, vx_mps, vy_mps, wz_radps]``; a scan's ranges, m;
        a twist ``[vx_mps, vy_mps, wz_radps]``; arrays as recorded; a reward ``[r]``.
    :param text: the marker of an ``episode`` sample, ``""`` otherwise.
    """

    stream: str
    t_ns: int
    stamp_ns: int
    values: FloatArray
    text: str = ""


@dataclass(frozen=True)
class Series:
    """A time-stamped stream: ``values[i]`` logged at ``t_ns[i]``, header stamp ``stamp_ns[i]``."""

    t_ns: IntArray
    stamp_ns: IntArray
    values: FloatArray

    def __len__(self) -> int:
        return int(self.t_ns.size)

    @classmethod
    def of(cls, samples: list[Sample], width: int) -> Series:
        """Stack samples; ``width`` columns when there are none."""
        if not samples:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, width)))
        return cls(
            np.array([s.t_ns for s in samples], dtype=np.int64),
            np.array([s.stamp_ns for s in samples], dtype=np.int64),
            np.stack([s.values for s in samples], dtype=np.float64),
        )


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


def iter_samples(bag: Path | str, spec: RobotSpec, mapping: T.TopicMapping | None = None) -> Iterator[Sample]:
    """Every mapped message of ``bag``, in log-time order, converted for ``spec``.

    :param mapping: which topic carries which stream; :meth:`TopicMapping.for_spec` if ``None``.
    :raises BagNotFoundError, BagFormatError: the bag cannot be opened or read.
    :raises MissingTopicError: a required topic of the mapping is not in the bag.
    :raises UnknownMessageTypeError: a mapped topic has a type its stream does not accept.
    """
    path = Path(bag)
    mapping = mapping or T.TopicMapping.for_spec(spec)
    with open_bag(path) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
        streams = mapped_streams(path, present, mapping)
        connections = [c for c in reader.connections if c.topic in streams]
        convert = _Converter(path, spec)
        corrupt: dict[str, int] = {}
        deserialize = reader.deserialize
        messages = reader.messages(connections=connections)
        try:
            for connection, t_ns, raw in messages:
                try:
                    msg = deserialize(raw, connection.msgtype)
                    sample = convert(streams[connection.topic], connection.topic, t_ns, msg)
                except Exception:  # a corrupt message (MCAP from rosbags has no CRC): skip it, say so below
                    corrupt[connection.topic] = corrupt.get(connection.topic, 0) + 1
                    continue
                if sample is not None:
                    yield sample
        except EpisodeError:
            raise
        except Exception as err:  # rosbags raises many kinds on a damaged file
            raise BagFormatError(f"{path.name} is damaged and cannot be read on: {T.one_line(err)}; "
                                 "re-record it or cut it before the damage") from err  # fmt: skip
    for topic, count in corrupt.items():
        warnings.warn(f"{path.name}: skipped {count} corrupt messages on {topic}", EpisodeWarning, stacklevel=2)
    convert.report()


def read_episodes(bag: Path | str, spec: RobotSpec, mapping: T.TopicMapping | None = None) -> list[Episode]:
    """The episodes of ``bag`` as streams of ``spec`` (see :func:`iter_samples` for the errors).

    Messages between a ``start i`` and the next ``end i ...`` marker belong to episode ``i``;
    messages outside any episode are dropped. A bag without markers is one episode.
    """
    # Samples go straight into per-stream lists of their episode (one pass: replay loads whole
    # bags through here, and bench_episodes holds it to a bare rosbags loop).
    groups: list[tuple[int, str | None, int, int | None, dict[str, list[Sample]]]] = []
    loose: dict[str, list[Sample]] = {}
    current: dict[str, list[Sample]] | None = None
    saw_marker = False
    first_loose = last_loose = None
    for sample in iter_samples(bag, spec, mapping):
        stream = sample.stream
        if stream == "episode":
            saw_marker = True
            words = sample.text.split()
            if len(words) >= 2 and words[0] == "start" and words[1].isdigit():
                current = {}
                groups.append((int(words[1]), None, sample.t_ns, None, current))
            elif len(words) >= 2 and words[0] == "end" and current is not None and groups:
                index, _, start, _, streams = groups[-1]
                groups[-1] = (index, words[2] if len(words) > 2 else None, start, sample.t_ns, streams)
                current = None
            continue
        if current is None:
            first_loose = sample.t_ns if first_loose is None else first_loose
            last_loose = sample.t_ns
            target = loose
        else:
            target = current
        if stream in target:
            target[stream].append(sample)
        else:
            target[stream] = [sample]
    if not saw_marker:
        if first_loose is None or last_loose is None:
            return []
        groups = [(0, None, first_loose, last_loose, loose)]
    return [_episode(index, outcome, start, end, streams, spec) for index, outcome, start, end, streams in groups]


def _episode(
    index: int,
    outcome: str | None,
    start: int,
    end: int | None,
    by_stream: dict[str, list[Sample]],
    spec: RobotSpec,
) -> Episode:
    beams = spec.sensors.laser.num_beams if spec.sensors.laser is not None else 0
    commands = by_stream.get("cmd_vel" if spec.command_interface == "twist" else "command", [])
    last = max((samples[-1].t_ns for samples in by_stream.values() if samples), default=start)
    return Episode(
        index=index,
        outcome=outcome,
        start_ns=start,
        end_ns=end if end is not None else last,
        states=_stack(by_stream.get("joint_states", []), (3, spec.dof)),
        odometry=Series.of(by_stream.get("odom", []), 6),
        scans=Series.of(by_stream.get("scan", []), beams),
        commands=Series.of(commands, spec.command_size),
        command_interface=spec.command_interface,
        observations=Series.of(by_stream.get("observation", []), 0),
        actions=Series.of(by_stream.get("action", []), 0),
        rewards=Series.of(by_stream.get("reward", []), 1),
    )


def _stack(samples: list[Sample], shape: tuple[int, int]) -> Series:
    if samples:
        return Series.of(samples, 0)
    return Series(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, *shape)))


class _Converter:
    """Converts deserialized ``rosbags`` messages (ROS 1 or ROS 2) of each stream to a :class:`Sample`."""

    def __init__(self, path: Path, spec: RobotSpec) -> None:
        self.path = path
        self.spec = spec
        self.joints = spec.joint_names
        self._names: tuple[str, ...] | None = None
        self._index: NDArray[np.intp] = np.zeros(0, np.intp)
        self._in_order = False  # the message's names are exactly the spec's joints, in order
        self._name_list: list[str] = []  # the last names seen, as the message carries them
        self._dof = len(self.joints)
        self.skipped: dict[str, tuple[int, str]] = {}

    def __call__(self, stream: str, topic: str, t_ns: int, msg: object) -> Sample | None:
        stamp = _stamp(getattr(msg, "header", None), t_ns)
        m: object = msg
        if stream == "joint_states":
            # This runs for every joint state of a bag, and reading must keep up with a bare
            # rosbags loop (bench_episodes): the same names as last time, in spec order, with
            # every field filled, take one comparison and one np.array call.
            names, n = m.name, self._dof  # type: ignore[attr-defined]
            position, velocity, effort = m.position, m.velocity, m.effort  # type: ignore[attr-defined]
            if names == self._name_list and self._in_order and len(position) == len(velocity) == len(effort) == n:
                return Sample(stream, t_ns, stamp, np.array((position, velocity, effort), dtype=np.float64))
            index = self._joint_index(topic, names)
            if index is None:
                return None
            values = np.zeros((3, index.size))
            for row, array in enumerate((position, velocity, effort)):
                if len(array):
                    values[row] = np.asarray(array, dtype=np.float64)[index]
            return Sample(stream, t_ns, stamp, values)
        if stream == "odom":
            p, q, tw = m.pose.pose.position, m.pose.pose.orientation, m.twist.twist  # type: ignore[attr-defined]
            yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
            values = np.array([p.x, p.y, yaw, tw.linear.x, tw.linear.y, tw.angular.z], dtype=np.float64)
            return Sample(stream, t_ns, stamp, values)
        if stream == "scan":
            return self._scan(topic, t_ns, stamp, m)
        if stream == "cmd_vel":
            twist = getattr(m, "twist", m)
            return Sample(stream, t_ns, stamp, np.array([twist.linear.x, twist.linear.y, twist.angular.z]))
        if stream in ("command", "observation", "action"):
            return Sample(stream, t_ns, stamp, np.asarray(m.data, dtype=np.float64))  # type: ignore[attr-defined]
        if stream == "reward":
            return Sample(stream, t_ns, stamp, np.array([float(m.data)]))  # type: ignore[attr-defined]
        return Sample(stream, t_ns, stamp, np.zeros(0), text=str(m.data))  # type: ignore[attr-defined]

    def _joint_index(self, topic: str, names: list[str]) -> NDArray[np.intp] | None:
        key = tuple(names)
        if key != self._names:
            where = {name: i for i, name in enumerate(key)}
            missing = [name for name in self.joints if name not in where]
            if missing:
                self._skip(topic, f"joints {missing} of '{self.spec.name}' are not in its names {list(key)}")
                return None
            self._index = np.array([where[name] for name in self.joints], dtype=np.intp)
            self._in_order = key == self.joints
            self._names, self._name_list = key, list(key)
        return self._index

    def _scan(self, topic: str, t_ns: int, stamp: int, msg: object) -> Sample | None:
        laser = self.spec.sensors.laser
        ranges = np.asarray(msg.ranges, dtype=np.float64)  # type: ignore[attr-defined]
        if laser is None or ranges.size != laser.num_beams:
            beams = laser.num_beams if laser is not None else 0
            self._skip(topic, f"{ranges.size} beams, the laser of '{self.spec.name}' has {beams}")
            return None
        # No return: inf, NaN, or outside [range_min, range_max] on the wire; inf in the contract.
        invalid = ~np.isfinite(ranges) | (ranges < msg.range_min) | (ranges > msg.range_max)  # type: ignore[attr-defined]
        ranges[invalid] = np.inf
        return Sample("scan", t_ns, stamp, ranges)

    def _skip(self, topic: str, why: str) -> None:
        count, _ = self.skipped.get(topic, (0, why))
        self.skipped[topic] = (count + 1, why)

    def report(self) -> None:
        """Warn once per topic about the messages skipped as not fitting the robot."""
        for topic, (count, why) in self.skipped.items():
            warnings.warn(
                f"{self.path.name}: skipped {count} messages on {topic}: {why}; fix the robot YAML or the mapping",
                EpisodeWarning,
                stacklevel=3,
            )


def _stamp(header: object, default: int) -> int:
    if header is None:
        return default
    stamp = header.stamp  # type: ignore[attr-defined]
    try:
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    except AttributeError:  # ROS 1: secs / nsecs
        return int(getattr(stamp, "secs", 0)) * 1_000_000_000 + int(getattr(stamp, "nsecs", 0) or 0)
