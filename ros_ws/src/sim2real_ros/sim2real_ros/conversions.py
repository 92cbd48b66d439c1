"""Between ROS 2 messages and the hardware contract's types (``hardware.state``, ``hardware.command``).

One place for every message the nodes exchange, so that the ROS robot, the simulated driver
and the recorder agree on units, frames and joint order:

- joint states are matched to the spec **by name** (:class:`JointOrder`), never by position;
- odometry is planar: yaw from the quaternion, the twist in the body (child) frame as
  ``nav_msgs/Odometry`` defines it;
- a laser scan must have the beam count of the robot's laser;
- twists are ``[linear_x, linear_y, angular_z]`` (``hardware.spec.TWIST_COMPONENTS``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from numpy.typing import ArrayLike, NDArray
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan as LaserScanMsg
from std_msgs.msg import Float64MultiArray, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from hardware.spec import LaserSpec
from hardware.state import LaserScan, Odometry

FloatArray = NDArray[np.float64]


class MessageError(ValueError):
    """A message does not fit the robot (missing joints, wrong beam count, non-finite values)."""


def relative_topic(name: str) -> str:
    """A topic name from the robot YAML made relative, so that the node's namespace applies
    (``/joint_states`` in namespace ``arm1`` is ``/arm1/joint_states``), as for a driver started
    in that namespace."""
    return name.lstrip("/")


# --- time ---------------------------------------------------------------------------------------


def to_time(ns: int) -> Time:
    """A ``builtin_interfaces/Time`` for ``ns`` nanoseconds."""
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def from_time(stamp: Time | Duration) -> int:
    """Nanoseconds of a ``Time`` or ``Duration``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def to_duration(seconds: float) -> Duration:
    """A ``builtin_interfaces/Duration`` of ``seconds`` (>= 0)."""
    ns = max(0, round(seconds * 1e9))
    return Duration(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


# --- joint states -------------------------------------------------------------------------------


class JointOrder:
    """Maps the joint names of incoming messages to the spec's joint order.

    Drivers list joints in their own order (and a joint state message may carry more joints
    than the robot, e.g. a gripper); the index is recomputed only when the names change.

    :param joint_names: the spec's joints, in spec order.
    """

    def __init__(self, joint_names: Sequence[str]) -> None:
        self.joint_names = tuple(joint_names)
        self._names: tuple[str, ...] | None = None
        self._index: NDArray[np.intp] = np.zeros(0, dtype=np.intp)

    def index(self, names: Sequence[str]) -> NDArray[np.intp]:
        """Positions in ``names`` of the spec's joints, in spec order.

        :raises MessageError: a joint of the spec is not in ``names``.
        """
        key = tuple(names)
        if key != self._names:
            where = {name: i for i, name in enumerate(key)}
            missing = [name for name in self.joint_names if name not in where]
            if missing:
                raise MessageError(
                    f"joint state lacks joints {missing} (it has {list(key)}); check that the robot YAML's "
                    "joints match the driver's"
                )
            self._index = np.array([where[name] for name in self.joint_names], dtype=np.intp)
            self._names = key
        return self._index

    def reorder(self, names: Sequence[str], values: Sequence[float]) -> FloatArray:
        """``values`` (one per name in ``names``) in spec order; zeros when ``values`` is empty
        (a driver may leave velocity or effort out)."""
        index = self.index(names)
        if len(values) == 0:
            return np.zeros(len(self.joint_names))
        if len(values) != len(names):
            raise MessageError(f"joint state has {len(names)} names but {len(values)} values")
        return np.asarray(values, dtype=np.float64)[index]


def joint_state_msg(
    names: Sequence[str], position: ArrayLike, velocity: ArrayLike, effort: ArrayLike, stamp_ns: int
) -> JointState:
    """A ``sensor_msgs/JointState`` (rad, rad/s, N·m) stamped ``stamp_ns``."""
    msg = JointState()
    msg.header.stamp = to_time(stamp_ns)
    msg.name = list(names)
    msg.position = np.asarray(position, dtype=np.float64).tolist()
    msg.velocity = np.asarray(velocity, dtype=np.float64).tolist()
    msg.effort = np.asarray(effort, dtype=np.float64).tolist()
    return msg


# --- odometry and scans -------------------------------------------------------------------------


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about +z) of a quaternion, rad."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def odometry_from_msg(msg: OdometryMsg) -> Odometry:
    """The planar odometry in a ``nav_msgs/Odometry`` (pose in its frame, twist in the body frame)."""
    p, q, t = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
    return Odometry(
        x_m=float(p.x),
        y_m=float(p.y),
        yaw_rad=yaw_from_quaternion(q.x, q.y, q.z, q.w),
        linear_x_mps=float(t.linear.x),
        linear_y_mps=float(t.linear.y),
        angular_z_radps=float(t.angular.z),
    )


def odometry_msg(
    odometry: Odometry, stamp_ns: int, frame_id: str = "odom", child_frame_id: str = "base_link"
) -> OdometryMsg:
    """A ``nav_msgs/Odometry`` of a planar pose and body twist."""
    msg = OdometryMsg()
    msg.header.stamp = to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x = float(odometry.x_m)
    msg.pose.pose.position.y = float(odometry.y_m)
    msg.pose.pose.orientation.z = math.sin(odometry.yaw_rad / 2.0)
    msg.pose.pose.orientation.w = math.cos(odometry.yaw_rad / 2.0)
    msg.twist.twist.linear.x = float(odometry.linear_x_mps)
    msg.twist.twist.linear.y = float(odometry.linear_y_mps)
    msg.twist.twist.angular.z = float(odometry.angular_z_radps)
    return msg


def scan_from_msg(msg: LaserScanMsg, laser: LaserSpec, stamp_ns: int) -> LaserScan:
    """The ranges of a ``sensor_msgs/LaserScan``, checked against the robot's laser.

    :param stamp_ns: the stamp to give the scan (the receiving clock's time of arrival).
    :raises MessageError: the beam count differs from ``laser.num_beams``.
    """
    ranges = np.asarray(msg.ranges, dtype=np.float64)
    if ranges.size != laser.num_beams:
        raise MessageError(
            f"laser scan has {ranges.size} beams, the robot's laser has {laser.num_beams}; fix sensors.laser in the "
            "robot YAML"
        )
    # Drivers report no-return as inf, NaN, or a value outside [range_min, range_max]; the
    # contract (hardware.state.LaserScan) says inf.
    invalid = ~np.isfinite(ranges) | (ranges < msg.range_min) | (ranges > msg.range_max)
    ranges[invalid] = np.inf
    return LaserScan(stamp_ns=stamp_ns, ranges_m=ranges)


def scan_msg(scan: LaserScan, laser: LaserSpec, stamp_ns: int, frame_id: str) -> LaserScanMsg:
    """A ``sensor_msgs/LaserScan`` from the robot's laser geometry (no return = inf)."""
    msg = LaserScanMsg()
    msg.header.stamp = to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.angle_min = float(laser.angle_min_rad)
    msg.angle_max = float(laser.angle_max_rad)
    msg.angle_increment = float((laser.angle_max_rad - laser.angle_min_rad) / max(laser.num_beams - 1, 1))
    msg.scan_time = 1.0 / laser.rate_hz
    msg.range_min = float(laser.range_min_m)
    msg.range_max = float(laser.range_max_m)
    msg.ranges = np.asarray(scan.ranges_m, dtype=np.float32).tolist()
    return msg


# --- commands -----------------------------------------------------------------------------------


def twist_msg(
    values: ArrayLike, *, stamped: bool, stamp_ns: int = 0, frame_id: str = "base_link"
) -> Twist | TwistStamped:
    """``cmd_vel`` for a twist ``[linear_x_mps, linear_y_mps, angular_z_radps]``."""
    vx, vy, wz = (float(v) for v in np.asarray(values, dtype=np.float64).reshape(3))
    twist = Twist()
    twist.linear.x, twist.linear.y, twist.angular.z = vx, vy, wz
    if not stamped:
        return twist
    msg = TwistStamped()
    msg.header.stamp = to_time(stamp_ns)
    msg.header.frame_id = frame_id
    msg.twist = twist
    return msg


def twist_from_msg(msg: Twist | TwistStamped) -> FloatArray:
    """``[linear_x_mps, linear_y_mps, angular_z_radps]`` of a ``Twist`` or ``TwistStamped``."""
    twist = msg.twist if isinstance(msg, TwistStamped) else msg
    return np.array([twist.linear.x, twist.linear.y, twist.angular.z], dtype=np.float64)


def array_msg(values: ArrayLike, labels: Sequence[tuple[str, int]] = ()) -> Float64MultiArray:
    """A ``std_msgs/Float64MultiArray``: the forward controllers' command, and the policy's
    observation and action. ``labels`` names consecutive segments (name, size) in ``layout.dim``
    so a recording says which numbers are which."""
    msg = Float64MultiArray()
    msg.data = np.asarray(values, dtype=np.float64).reshape(-1).tolist()
    msg.layout.dim = [MultiArrayDimension(label=name, size=int(size), stride=int(size)) for name, size in labels]
    return msg


def trajectory_msg(names: Sequence[str], positions: ArrayLike, time_from_start_s: float) -> JointTrajectory:
    """A one-point ``trajectory_msgs/JointTrajectory``: reach ``positions`` (rad) after
    ``time_from_start_s``. The header stamp is zero, which a trajectory controller reads as
    "start now"."""
    point = JointTrajectoryPoint()
    point.positions = np.asarray(positions, dtype=np.float64).tolist()
    point.time_from_start = to_duration(time_from_start_s)
    msg = JointTrajectory()
    msg.joint_names = list(names)
    msg.points = [point]
    return msg


def trajectory_points(msg: JointTrajectory, order: JointOrder) -> list[tuple[float, FloatArray]]:
    """The points of a trajectory as ``(time_from_start_s, positions in spec order)``.

    :raises MessageError: a joint is missing, a point has the wrong size or non-finite values,
        or the times do not increase.
    """
    points: list[tuple[float, FloatArray]] = []
    for point in msg.points:
        positions = order.reorder(msg.joint_names, point.positions)
        if not np.all(np.isfinite(positions)):
            raise MessageError(f"trajectory point has non-finite positions {positions.tolist()}")
        t = from_time(point.time_from_start) * 1e-9
        if points and t <= points[-1][0]:
            raise MessageError("trajectory points' time_from_start must increase")
        points.append((t, positions))
    return points
