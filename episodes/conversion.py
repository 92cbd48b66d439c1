"""Deserialized ``rosbags`` messages (ROS 1 or ROS 2) into columns of our robot's streams.

A :class:`MessageConverter` gets one converter per topic (:meth:`MessageConverter.for_stream`);
each message costs one call that appends its log time, header stamp and numbers to the stream's
:class:`StreamColumns`, which are stacked into arrays once at the end. Reading is held to a bare
``rosbags`` loop (``bench_episodes``), and one small array plus one record per message cost more
than the deserialization leaves room for.

Units and order are the hardware contract's: joint states matched **by name** to the spec's
joints, yaw from the odometry quaternion, ``inf`` for a laser beam with no return. A joint state
missing one of the spec's joints, or a scan with another beam count than the spec's laser (never
silently resampled), is skipped and counted; :meth:`MessageConverter.report` warns once per topic.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from episodes.episode import FloatArray, Series
from episodes.errors import EpisodeWarning
from hardware.spec import RobotSpec

Convert = Callable[[int, Any], None]
"""``(t_ns, message)``: converts one message of a topic into its stream's columns."""


class Marker(NamedTuple):
    """An ``/sim2real/episode`` marker (``start 3``, ``end 3 success``) and where it fell.

    :param t_ns: log time, ns.
    :param text: the marker.
    :param counts: messages of each stream read before it (where it cuts each stream).
    """

    t_ns: int
    text: str
    counts: dict[str, int]


class StreamColumns:
    """One stream while a bag is read: log times, header stamps and the numbers of each message.

    :param parts: lists of arrays per message: 3 for joint states (position, velocity, effort),
        1 for every other stream.
    """

    __slots__ = ("t_ns", "stamp_ns", "parts")

    def __init__(self, parts: int = 1) -> None:
        self.t_ns: list[int] = []
        self.stamp_ns: list[int] = []
        self.parts: tuple[list[FloatArray], ...] = tuple([] for _ in range(parts))

    def series(self, shape: tuple[int, ...]) -> Series:
        """The stream stacked: values ``(N, *shape)``, parts on axis 1 when there are several.

        :param shape: the shape of one message's values, for a stream without messages.
        """
        if not self.t_ns:
            return Series.empty(shape)
        # np.array of a list of rows: about a third of np.stack's time per row
        stacked = [np.array(part, dtype=np.float64) for part in self.parts]
        values = stacked[0] if len(stacked) == 1 else np.stack(stacked, axis=1)
        return Series(np.array(self.t_ns, dtype=np.int64), np.array(self.stamp_ns, dtype=np.int64), values)


class MessageConverter:
    """Converts the messages of one bag for ``spec`` into :attr:`columns` and :attr:`markers`.

    :param path: the bag, for warnings.
    :param spec: the robot the streams are converted for.
    """

    def __init__(self, path: Path, spec: RobotSpec) -> None:
        self.path = path
        self.spec = spec
        self.joints = spec.joint_names
        #: The numeric streams read so far, by stream name.
        self.columns: dict[str, StreamColumns] = {}
        #: The episode markers read so far, in order.
        self.markers: list[Marker] = []
        #: Messages skipped as not fitting the robot: ``{topic: (count, why)}``.
        self.skipped: dict[str, tuple[int, str]] = {}
        self._names: tuple[str, ...] | None = None  # the joint names the index below was made for
        self._index: NDArray[np.intp] = np.zeros(0, np.intp)
        # Those names as messages carry them, when they are the spec's joints in spec order (the
        # fast path's test); None otherwise.
        self._spec_order: list[str] | None = None

    def for_stream(self, stream: str, topic: str) -> Convert:
        """The converter of ``topic``, which carries ``stream`` (a key of :data:`episodes.topics.STREAM_TYPES`)."""
        if stream == "episode":
            return partial(self._marker, topic)
        if stream not in self.columns:
            self.columns[stream] = StreamColumns(parts=3 if stream == "joint_states" else 1)
        if stream == "joint_states":
            return self._joint_states(self.columns[stream], topic)
        methods: dict[str, Callable[[StreamColumns, str, int, Any], None]] = {
            "odom": self._odometry,
            "scan": self._scan,
            "cmd_vel": self._twist,
            "command": self._command,
            "observation": self._array,
            "action": self._array,
            "reward": self._reward,
        }
        return partial(methods[stream], self.columns[stream], topic)

    def series(self, stream: str, shape: tuple[int, ...]) -> Series:
        """Every message of ``stream`` read, stacked (empty, values of ``shape``, if none)."""
        columns = self.columns.get(stream)
        return columns.series(shape) if columns is not None else Series.empty(shape)

    def report(self) -> None:
        """Warn once per topic about the messages skipped as not fitting the robot."""
        for topic, (count, why) in self.skipped.items():
            warnings.warn(
                f"{self.path.name}: skipped {count} messages on {topic}: {why}; fix the robot YAML or the mapping",
                EpisodeWarning,
                stacklevel=3,
            )

    # --- one method per stream: everything is computed before the first append, so a message
    # --- that fails to convert leaves its stream's columns aligned.

    def _joint_states(self, out: StreamColumns, topic: str) -> Convert:
        """The converter of a joint-state topic: nearly every message of a bag takes its fast path
        (a ROS 2 message with the spec's joints in spec order, every field filled: its arrays are
        kept as they are), so it is a closure over the columns' bound ``append`` methods."""
        n = len(self.joints)
        add_t, add_stamp = out.t_ns.append, out.stamp_ns.append
        add_position, add_velocity, add_effort = (part.append for part in out.parts)

        def convert(t_ns: int, msg: Any) -> None:
            position, velocity, effort = msg.position, msg.velocity, msg.effort
            if msg.name == self._spec_order and len(position) == len(velocity) == len(effort) == n:
                stamp = msg.header.stamp
                if hasattr(stamp, "nanosec"):  # ROS 1 stamps (secs, nsecs) take the general path
                    add_t(t_ns)
                    add_stamp(stamp.sec * 1_000_000_000 + stamp.nanosec)
                    add_position(position)
                    add_velocity(velocity)
                    add_effort(effort)
                    return
            self._joint_states_by_name(out, topic, t_ns, msg)

        return convert

    def _joint_states_by_name(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        """The general path: joints picked by name, empty velocity or effort filled with zeros."""
        position, velocity, effort = msg.position, msg.velocity, msg.effort
        index = self._joint_index(topic, msg.name)
        if index is None:
            return
        rows = []
        for array in (position, velocity, effort):  # drivers may leave velocity or effort empty
            rows.append(np.asarray(array, dtype=np.float64)[index] if len(array) else np.zeros(index.size))
        stamp_ns = _stamp(msg.header, t_ns)
        out.t_ns.append(t_ns)
        out.stamp_ns.append(stamp_ns)
        for part, row in zip(out.parts, rows, strict=True):
            part.append(row)

    def _joint_index(self, topic: str, names: list[str]) -> NDArray[np.intp] | None:
        """Where each of the spec's joints is in ``names``; ``None`` (skipped, counted) if one is missing."""
        key = tuple(names)
        if key != self._names:
            where = {name: i for i, name in enumerate(key)}
            missing = [name for name in self.joints if name not in where]
            if missing:
                self._skip(topic, f"joints {missing} of '{self.spec.name}' are not in its names {list(key)}")
                return None
            self._index = np.array([where[name] for name in self.joints], dtype=np.intp)
            self._names = key
            self._spec_order = list(key) if key == self.joints else None
        return self._index

    def _odometry(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        p, q, twist = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        values = np.array([p.x, p.y, yaw, twist.linear.x, twist.linear.y, twist.angular.z], dtype=np.float64)
        _append(out, t_ns, _stamp(msg.header, t_ns), values)

    def _scan(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        laser = self.spec.sensors.laser
        ranges = np.array(msg.ranges, dtype=np.float64)  # a copy: written below
        if laser is None or ranges.size != laser.num_beams:
            beams = laser.num_beams if laser is not None else 0
            self._skip(topic, f"{ranges.size} beams, the laser of '{self.spec.name}' has {beams}")
            return
        # No return: inf, NaN, or outside [range_min, range_max] on the wire; inf in the contract.
        invalid = ~np.isfinite(ranges) | (ranges < msg.range_min) | (ranges > msg.range_max)
        ranges[invalid] = np.inf
        _append(out, t_ns, _stamp(msg.header, t_ns), ranges)

    def _twist(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        header = getattr(msg, "header", None)  # TwistStamped, or Twist without one
        twist = msg.twist if header is not None else msg
        values = np.array([twist.linear.x, twist.linear.y, twist.angular.z], dtype=np.float64)
        _append(out, t_ns, _stamp(header, t_ns), values)

    def _array(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        _append(out, t_ns, t_ns, np.asarray(msg.data, dtype=np.float64))

    def _command(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        """An arm command: ``Float64MultiArray`` values in spec order, or a ``JointTrajectory``'s
        last point (the target it ends at; ours send one point), joints matched by name."""
        if not hasattr(msg, "points"):
            self._array(out, topic, t_ns, msg)
            return
        if not msg.points:
            self._skip(topic, "a JointTrajectory without points")
            return
        field = {"position": "positions", "velocity": "velocities", "effort": "effort"}[self.spec.command_interface]
        values = np.asarray(getattr(msg.points[-1], field), dtype=np.float64)
        where = {name: i for i, name in enumerate(msg.joint_names)}
        missing = [name for name in self.joints if name not in where]
        if missing or values.size != len(msg.joint_names):
            why = f"joints {missing} are not in its joint_names" if missing else f"its last point has no {field}"
            self._skip(topic, f"a JointTrajectory for '{self.spec.name}' whose {why}")
            return
        _append(out, t_ns, _stamp(msg.header, t_ns), values[[where[name] for name in self.joints]])

    def _reward(self, out: StreamColumns, topic: str, t_ns: int, msg: Any) -> None:
        _append(out, t_ns, t_ns, np.array([float(msg.data)]))

    def _marker(self, topic: str, t_ns: int, msg: Any) -> None:
        counts = {stream: len(columns.t_ns) for stream, columns in self.columns.items()}
        self.markers.append(Marker(t_ns, str(msg.data), counts))

    def _skip(self, topic: str, why: str) -> None:
        count, _ = self.skipped.get(topic, (0, why))
        self.skipped[topic] = (count + 1, why)


def _append(out: StreamColumns, t_ns: int, stamp_ns: int, values: FloatArray) -> None:
    out.t_ns.append(t_ns)
    out.stamp_ns.append(stamp_ns)
    out.parts[0].append(values)


def _stamp(header: Any, default: int) -> int:
    """A header's stamp in ns (ROS 2 ``sec``/``nanosec`` or ROS 1 ``secs``/``nsecs``); ``default`` without one."""
    if header is None:
        return default
    stamp = header.stamp
    try:
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    except AttributeError:  # ROS 1
        return int(getattr(stamp, "secs", 0)) * 1_000_000_000 + int(getattr(stamp, "nsecs", 0) or 0)
