"""Record runs to rosbag2 (metadata version 9, MCAP storage) with ``rosbags``: no ROS install needed.

:class:`EpisodeRecorder` writes the hardware contract's types (``RobotState``, ``Command``) and the
policy's observation / action / reward as standard ROS 2 messages on the topics of
:mod:`episodes.topics`, with the same units and frames as ``sim2real_ros.conversions`` (rad, m,
yaw as a z-rotation quaternion, body-frame twist, ``inf`` for no laser return).

Times: each message's header stamp is the robot's own clock (``state.stamp_ns``, simulation time
in sim). The bag's log time (what players and ``rosbags`` order by) is that stamp plus an offset
chosen so that log time starts at ``time_origin_ns`` (wall clock at opening by default) and never
goes back: a simulator restarts its clock at 0 on reset, so each new episode is shifted to start
after the previous one ended.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from episodes import topics as T
from episodes.errors import RecordingError
from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState

BAG_VERSION: Literal[9] = 9
# The MCAP footer that marks "no summary section": a reader scans the data section instead (rosbags
# and the mcap library both do). Opcode 0x02, length 20, summary start 0, summary offset start 0,
# CRC 0, then the closing magic.
_BARE_FOOTER = b"\x02" + (20).to_bytes(8, "little") + bytes(20) + b"\x89MCAP0\r\n"
# The gap left between one episode's last message and the next episode's first, ns.
EPISODE_GAP_NS = 1_000_000


def ros2_typestore() -> Typestore:
    """The newest ROS 2 typestore ``rosbags`` ships (Kilted or later)."""
    names = [name for name in Stores.__members__ if name.startswith("ROS2_")]
    return get_typestore(Stores[sorted(names, key=_distro_order)[-1]])


def _distro_order(name: str) -> int:
    order = ["DASHING", "ELOQUENT", "FOXY", "GALACTIC", "HUMBLE", "IRON", "JAZZY", "KILTED", "LYRICAL"]
    distro = name.removeprefix("ROS2_")
    return order.index(distro) if distro in order else len(order)


def run_metadata(spec: RobotSpec | None = None, **extra: str) -> dict[str, str]:
    """What a bag records about its run, for its custom data: the robot, its YAML and calibration,
    the source revision and the time, plus ``extra`` (bundle, task, backend, seed...).

    :param spec: the robot recorded; ``None`` when the recording names no robot (topics only).
    """
    metadata = {"git_revision": git_revision(), "recorded_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if spec is not None:
        calibration = str(spec.calibration_path) if spec.calibration_path is not None else "none"
        metadata |= {"robot": spec.name, "robot_yaml": str(spec.yaml_path), "calibration": calibration}
    return metadata | extra


def git_revision() -> str:
    """The source tree's ``git rev-parse HEAD``, or ``"unknown"`` outside a git checkout."""
    import subprocess

    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


class EpisodeRecorder:
    """Writes one bag: states, commands, policy streams and episode markers of one robot.

    Use it as a context manager: the bag is closed (metadata.yaml written, MCAP summary complete)
    when the block ends, also when it ends with an exception. Typical use::

        with EpisodeRecorder(path, spec, metadata={"bundle": "reach-v1"}) as rec:
            rec.start_episode(state.stamp_ns)
            rec.write_state(state)
            rec.write_command(sent, state.stamp_ns)
            rec.end_episode(state.stamp_ns, "success")

    :param path: the bag folder to create (must not exist).
    :param spec: the robot; gives topic names, joint order and the laser geometry.
    :param metadata: run metadata stored as the bag's ``custom_data`` (string values; robot,
        bundle, calibration, git revision...). ``robot`` is set to ``spec.name`` if absent.
    :param time_origin_ns: log time of the first message, ns since the epoch; wall clock if ``None``.
    :param checkpoint_period_s: make the bag openable as it stands (:func:`checkpoint_bag`) at
        every episode end and at least this often, wall-clock s, so that a killed process loses at
        most this much; ``None``: only when closed.
    """

    def __init__(
        self,
        path: Path | str,
        spec: RobotSpec,
        *,
        metadata: dict[str, str] | None = None,
        time_origin_ns: int | None = None,
        checkpoint_period_s: float | None = 1.0,
    ) -> None:
        self.path = Path(path)
        self.checkpoint_period_s = checkpoint_period_s
        self._next_checkpoint = time.monotonic() + (checkpoint_period_s or 0.0)
        self.spec = spec
        self.mapping = T.TopicMapping.for_spec(spec)
        self.typestore = ros2_typestore()
        self._types: dict[str, Any] = self.typestore.types
        self._origin_ns = time.time_ns() if time_origin_ns is None else int(time_origin_ns)
        self._offset_ns: int | None = None
        self._last_log_ns = -1
        self._episode: int | None = None
        self._scan_stamp_ns: int | None = None  # a scan is written once, when a new one arrives
        self.episodes = 0
        self._connections: dict[str, Connection] = {}
        try:
            self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        except WriterError as err:
            raise RecordingError(f"cannot record to {self.path}: {T.one_line(err)}; choose a new bag path") from err
        custom = {"robot": spec.name, **(metadata or {})}
        for key, value in custom.items():
            if not isinstance(value, str):
                raise RecordingError(f"metadata '{key}' must be a string for the bag's custom_data, got {value!r}")
            self._writer.set_custom_data(key, value)
        self._writer.open()
        self._open = True

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> EpisodeRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the bag (idempotent). An episode still open is ended with outcome ``aborted``."""
        if not self._open:
            return
        try:
            if self._episode is not None:
                self._marker(f"end {self._episode} aborted", self._last_log_ns - self._offset_or_zero())
                self._episode = None
        finally:
            self._open = False
            self._writer.close()

    # --- episodes -------------------------------------------------------------------------------

    def start_episode(self, stamp_ns: int) -> int:
        """Mark the start of a new episode at robot time ``stamp_ns``; returns its index (0, 1, ...).

        An episode still open is ended first with outcome ``aborted``.
        """
        if self._episode is not None:
            self.end_episode(stamp_ns, "aborted")
        if self._offset_ns is None:
            self._offset_ns = self._origin_ns - int(stamp_ns)
        elif int(stamp_ns) + self._offset_ns <= self._last_log_ns:
            self._offset_ns = self._last_log_ns + EPISODE_GAP_NS - int(stamp_ns)
        self._episode = self.episodes
        self.episodes += 1
        self._marker(f"start {self._episode}", stamp_ns)
        return self._episode

    def end_episode(self, stamp_ns: int, outcome: str = "done") -> None:
        """Mark the end of the open episode at ``stamp_ns``.

        :param outcome: one word: ``success``, ``failure``, ``timeout``, ``aborted``, ``done``...
        """
        if self._episode is None:
            raise RecordingError(f"end_episode with no episode open in {self.path}; call start_episode first")
        if not outcome or any(c.isspace() for c in outcome):
            raise RecordingError(f"episode outcome must be one word, got {outcome!r}")
        self._marker(f"end {self._episode} {outcome}", stamp_ns)
        self._episode = None
        if self.checkpoint_period_s is not None:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Make what is written so far a bag that opens, even if the process is killed next."""
        checkpoint_bag(self._writer)
        self._next_checkpoint = time.monotonic() + (self.checkpoint_period_s or 0.0)

    # --- streams --------------------------------------------------------------------------------

    def write_state(self, state: RobotState) -> None:
        """Joint states, and for a base its odometry and the latest scan (once per new scan stamp)."""
        t = state.stamp_ns
        msg = self._types[T.JOINT_STATE](
            header=self._header(t),
            name=list(self.spec.joint_names),
            position=np.asarray(state.position, dtype=np.float64),
            velocity=np.asarray(state.velocity, dtype=np.float64),
            effort=np.asarray(state.effort, dtype=np.float64),
        )
        self._write("joint_states", T.JOINT_STATE, msg, t)
        if state.odometry is not None and self.mapping.odom is not None:
            self._write("odom", T.ODOMETRY, self._odometry(state, t), t)
        scan = state.scan
        laser = self.spec.sensors.laser
        if scan is not None and laser is not None and scan.stamp_ns != self._scan_stamp_ns:
            self._scan_stamp_ns = scan.stamp_ns
            increment = (laser.angle_max_rad - laser.angle_min_rad) / max(laser.num_beams - 1, 1)
            empty = np.zeros(0, dtype=np.float32)
            msg = self._types[T.LASER_SCAN](
                header=self._header(scan.stamp_ns, laser.link),
                angle_min=laser.angle_min_rad,
                angle_max=laser.angle_max_rad,
                angle_increment=increment,
                time_increment=0.0,
                scan_time=1.0 / laser.rate_hz,
                range_min=laser.range_min_m,
                range_max=laser.range_max_m,
                ranges=np.asarray(scan.ranges_m, dtype=np.float32),
                intensities=empty,
            )
            self._write("scan", T.LASER_SCAN, msg, max(scan.stamp_ns, t))

    def write_command(self, command: Command, stamp_ns: int) -> None:
        """The command sent at robot time ``stamp_ns``: ``cmd_vel`` for a base, else ``/sim2real/command``."""
        if command.interface == "twist":
            vx, vy, wz = (float(v) for v in command.values.reshape(3))
            twist = self._types[T.TWIST](linear=self._vector(vx, vy, 0.0), angular=self._vector(0.0, 0.0, wz))
            if self.spec.ros.cmd_vel_stamped:
                msg = self._types[T.TWIST_STAMPED](header=self._header(stamp_ns, "base_link"), twist=twist)
                self._write("cmd_vel", T.TWIST_STAMPED, msg, stamp_ns)
            else:
                self._write("cmd_vel", T.TWIST, twist, stamp_ns)
            return
        self._write("command", T.FLOAT64_ARRAY, self._array(command.values, command.interface), stamp_ns)

    def write_observation(self, values: ArrayLike, stamp_ns: int) -> None:
        """The policy's observation vector at ``stamp_ns``."""
        self._write("observation", T.FLOAT64_ARRAY, self._array(values, "observation"), stamp_ns)

    def write_action(self, values: ArrayLike, stamp_ns: int) -> None:
        """The policy's action vector at ``stamp_ns``."""
        self._write("action", T.FLOAT64_ARRAY, self._array(values, "action"), stamp_ns)

    def write_reward(self, reward: float, stamp_ns: int) -> None:
        """The reward of the step ending at ``stamp_ns``."""
        self._write("reward", T.FLOAT64, self._types[T.FLOAT64](data=float(reward)), stamp_ns)

    # --- helpers --------------------------------------------------------------------------------

    def _marker(self, text: str, stamp_ns: int) -> None:
        self._write("episode", T.STRING, self._types[T.STRING](data=text), stamp_ns)

    def _offset_or_zero(self) -> int:
        return self._offset_ns or 0

    def _write(self, stream: str, msgtype: str, msg: object, stamp_ns: int) -> None:
        if not self._open:
            raise RecordingError(f"write to {self.path} after it was closed; open a new EpisodeRecorder")
        if self._offset_ns is None:
            self._offset_ns = self._origin_ns - int(stamp_ns)
        # Log time never goes back (rosbag2 players expect it ordered per topic).
        log_ns = max(int(stamp_ns) + self._offset_ns, self._last_log_ns)
        self._last_log_ns = log_ns
        key = f"{stream} {msgtype}"
        connection = self._connections.get(key)
        if connection is None:
            topic = getattr(self.mapping, stream)
            connection = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            self._connections[key] = connection
        self._writer.write(connection, log_ns, self.typestore.serialize_cdr(msg, msgtype))
        if self.checkpoint_period_s is not None and time.monotonic() >= self._next_checkpoint:
            self.checkpoint()

    def _header(self, stamp_ns: int, frame_id: str = "") -> object:
        ns = int(stamp_ns)
        stamp = self._types["builtin_interfaces/msg/Time"](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        return self._types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def _vector(self, x: float, y: float, z: float) -> object:
        return self._types["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)

    def _array(self, values: ArrayLike, label: str) -> object:
        data = np.asarray(values, dtype=np.float64).reshape(-1)
        dim = self._types["std_msgs/msg/MultiArrayDimension"](label=label, size=data.size, stride=data.size)
        layout = self._types["std_msgs/msg/MultiArrayLayout"](dim=[dim], data_offset=0)
        return self._types[T.FLOAT64_ARRAY](layout=layout, data=data)

    def _odometry(self, state: RobotState, stamp_ns: int) -> object:
        odo = state.odometry
        assert odo is not None  # checked by the caller
        types = self._types
        zeros = np.zeros(36, dtype=np.float64)
        pose = types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=odo.x_m, y=odo.y_m, z=0.0),
            orientation=types["geometry_msgs/msg/Quaternion"](
                x=0.0, y=0.0, z=math.sin(odo.yaw_rad / 2.0), w=math.cos(odo.yaw_rad / 2.0)
            ),
        )
        twist = types[T.TWIST](
            linear=self._vector(odo.linear_x_mps, odo.linear_y_mps, 0.0),
            angular=self._vector(0.0, 0.0, odo.angular_z_radps),
        )
        return types[T.ODOMETRY](
            header=self._header(stamp_ns, "odom"),
            child_frame_id="base_link",
            pose=types["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=zeros),
            twist=types["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=zeros.copy()),
        )


def checkpoint_bag(writer: Writer) -> None:
    """Make what ``writer`` has written so far a bag that opens, even if the process dies next.

    Closes the MCAP chunk being filled (rosbags only closes one at 1 MiB), ends the file with a
    footer without summary (readers then scan the chunks), writes ``metadata.yaml`` as
    ``Writer.close`` would, and flushes to the OS. The next chunk overwrites the footer; the
    final ``close`` writes the real summary. Between checkpoints, new messages live in memory
    only: a SIGKILL loses at most one checkpoint period. Costs one small chunk per call.

    Uses rosbags' MCAP storage internals (``storage.chunk``, ``close_chunk``, ``bio``), checked
    against rosbags 0.11; the metadata is written by ``Writer.close`` itself with the storage's
    ``close`` disarmed, so it stays rosbags' format.
    """
    storage: Any = writer.storage
    if storage is None or not hasattr(storage, "close_chunk"):
        raise RecordingError(f"checkpoint of {writer.path}: only an open MCAP bag can be checkpointed")
    if storage.chunk.bio.tell():
        storage.close_chunk()
    end = storage.bio.tell()
    storage.bio.write(_BARE_FOOTER)
    storage.bio.flush()
    storage.bio.seek(end)
    storage.close = lambda version, metadata: None  # keep the MCAP open while Writer.close writes metadata.yaml
    try:
        writer.close()
    finally:
        del storage.close
        writer.storage = storage
