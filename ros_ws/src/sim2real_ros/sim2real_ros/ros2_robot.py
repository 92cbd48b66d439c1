"""``Ros2Robot``: the ROS 2 implementation of :class:`hardware.Robot`.

It talks to the topics a ros2_control driver (arms) or a Nav2-style base driver speaks, named by
the robot YAML's ``ros`` section:

- arms read ``joint_states`` and write ``std_msgs/Float64MultiArray`` to
  ``/<controller>/commands`` (forward_command_controller: values in the controller's joint
  order, which must be the robot YAML's) or a one-point ``trajectory_msgs/JointTrajectory`` to
  ``/<controller>/joint_trajectory`` (reached after one control period; joints named);
- bases write ``cmd_vel`` (``TwistStamped`` or ``Twist``) and read ``odom``, ``scan`` and, where
  the driver publishes them, the wheels' ``joint_states``.

Joint states are matched to the spec by name, never by position. Topic names lose their leading
``/`` so that the node's namespace applies (``/joint_states`` in namespace ``arm1`` is
``/arm1/joint_states``), as for a driver started in that namespace.

Subscriptions only cache the newest message; :meth:`Ros2Robot.read` assembles a
:class:`~hardware.state.RobotState` from the cache. Its stamp is when the state *arrived*, on
this process's steady clock (``time.monotonic_ns``), because the watchdog must judge how old our
knowledge is, whatever clock the driver stamps with. For a base it is the odometry's arrival,
and the scan ages it too: a scan counts as fresh for two laser periods, after which the state's
stamp follows it (so a dead laser trips the watchdog like dead odometry does).

The node that owns this robot spins it: every callback runs in that node's executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from numpy.typing import ArrayLike
from rclpy.node import Node
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan as LaserScanMsg
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from hardware.command import Command
from hardware.errors import HardwareError
from hardware.spec import RobotSpec
from hardware.state import LaserScan, Odometry, RobotState
from sim2real_ros import qos
from sim2real_ros.conversions import (
    JointOrder,
    MessageError,
    array_msg,
    odometry_from_msg,
    relative_topic,
    scan_from_msg,
    trajectory_msg,
    twist_msg,
)

#: A scan counts as fresh for this many laser periods after it arrived.
SCAN_FRESH_PERIODS = 2.0


class RobotNotReadyError(HardwareError):
    """The robot's state has not arrived yet (no joint states, odometry or scan so far)."""


class Ros2Robot:
    """A robot driven over ROS 2 topics (see the module docstring).

    :param spec: the robot's contract; its ``ros`` section names the topics.
    :param node: the node that owns the subscriptions and publishers, and spins them.
    :param clock_ns: the steady clock that stamps arrivals; ``time.monotonic_ns``.
    """

    def __init__(self, spec: RobotSpec, node: Node, *, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self._spec = spec
        self._node = node
        self._clock_ns = clock_ns
        self._order = JointOrder(spec.joint_names)
        self._is_base = spec.kind == "base"
        self._laser = spec.sensors.laser
        self._joints: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None  # arrival, q, qd, tau
        self._odometry: tuple[int, Odometry] | None = None
        self._scan: LaserScan | None = None
        #: The last message that did not fit the robot (for diagnostics); ``None`` while all fit.
        self.last_message_error: str | None = None
        ros = spec.ros
        self._subscriptions: list[Any] = [
            node.create_subscription(
                JointState, relative_topic(ros.joint_states), self._on_joint_state, qos.STATE_SUBSCRIPTION
            )
        ]
        self._publish: Callable[[Command], None]
        if self._is_base:
            self._subscriptions.append(
                node.create_subscription(
                    OdometryMsg, relative_topic(ros.odom), self._on_odometry, qos.STATE_SUBSCRIPTION
                )
            )
            if self._laser is not None:
                self._subscriptions.append(
                    node.create_subscription(
                        LaserScanMsg, relative_topic(ros.scan), self._on_scan, qos.STATE_SUBSCRIPTION
                    )
                )
            twist_type = TwistStamped if ros.cmd_vel_stamped else Twist
            publisher = node.create_publisher(twist_type, relative_topic(ros.cmd_vel), qos.COMMAND)
            self._publish = lambda command: publisher.publish(
                twist_msg(command.values, stamped=ros.cmd_vel_stamped, stamp_ns=node.get_clock().now().nanoseconds)
            )
        elif ros.command_type == "trajectory":
            if spec.command_interface != "position":
                raise HardwareError(
                    f"{spec.yaml_path}: ros.command_type trajectory needs command_interface position, not "
                    f"{spec.command_interface}; use command_type forward"
                )
            publisher = node.create_publisher(JointTrajectory, relative_topic(ros.arm_command_topic), qos.COMMAND)
            names, period = spec.joint_names, spec.control_period_s
            self._publish = lambda command: publisher.publish(trajectory_msg(names, command.values, period))
        else:
            publisher = node.create_publisher(Float64MultiArray, relative_topic(ros.arm_command_topic), qos.COMMAND)
            self._publish = lambda command: publisher.publish(array_msg(command.values))
        self._publisher: Any = publisher

    # --- hardware.Robot ----------------------------------------------------------------------

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    def ready(self) -> bool:
        """Every stream the robot needs has arrived at least once."""
        if self._is_base:
            return self._odometry is not None and (self._laser is None or self._scan is not None)
        return self._joints is not None

    @property
    def waiting_for(self) -> list[str]:
        """The topics that have not delivered yet (for diagnostics)."""
        ros, missing = self._spec.ros, []
        if self._is_base:
            if self._odometry is None:
                missing.append(ros.odom)
            if self._laser is not None and self._scan is None:
                missing.append(ros.scan)
        elif self._joints is None:
            missing.append(ros.joint_states)
        return missing

    def read(self) -> RobotState:
        """The newest cached state, stamped with its arrival on the steady clock.

        :raises RobotNotReadyError: a needed topic has not delivered yet (see :meth:`ready`).
        """
        if not self.ready():
            raise RobotNotReadyError(f"no state from '{self._spec.name}' yet: waiting for {self.waiting_for}")
        dof = self._spec.dof
        if self._joints is not None:
            stamp, position, velocity, effort = self._joints
        else:  # a base whose driver does not publish wheel joint states
            stamp, position, velocity, effort = 0, np.zeros(dof), np.zeros(dof), np.zeros(dof)
        odometry = None
        if self._is_base:
            assert self._odometry is not None
            stamp, odometry = self._odometry
            if self._scan is not None and self._laser is not None:
                fresh_until = self._scan.stamp_ns + round(SCAN_FRESH_PERIODS * 1e9 / self._laser.rate_hz)
                stamp = min(stamp, fresh_until)
        return RobotState(stamp, position, velocity, effort, odometry, self._scan)

    def write(self, command: Command) -> Command:
        """Publish ``command`` to the driver as it is (put :class:`hardware.safety.SafeRobot` in
        front of this robot); returns it.

        :raises CommandError: the command's interface or size does not fit the robot.
        """
        command.check_for(self._spec)
        self._publish(command)
        return command

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        raise NotImplementedError(f"'{self._spec.name}' is a real robot: it cannot be reset by software")

    def close(self) -> None:
        """Remove the subscriptions and publishers from the node (the node itself stays)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()
        if self._publisher is not None:
            self._node.destroy_publisher(self._publisher)
            self._publisher = None

    # --- subscriptions: cache only -----------------------------------------------------------

    @property
    def state_arrival_ns(self) -> int:
        """When the state that :meth:`read` returns arrived (steady clock, ns); 0 before any."""
        if self._is_base:
            return self._odometry[0] if self._odometry is not None else 0
        return self._joints[0] if self._joints is not None else 0

    def _on_joint_state(self, msg: JointState) -> None:
        arrival = self._clock_ns()
        try:
            position = self._order.reorder(msg.name, msg.position)
            velocity = self._order.reorder(msg.name, msg.velocity)
            effort = self._order.reorder(msg.name, msg.effort)
        except MessageError as err:
            self._reject(self._spec.ros.joint_states, err)
            return
        if not np.all(np.isfinite(position)):
            self._reject(self._spec.ros.joint_states, MessageError(f"non-finite joint positions {position.tolist()}"))
            return
        self._joints = (arrival, position, velocity, effort)

    def _on_odometry(self, msg: OdometryMsg) -> None:
        odometry = odometry_from_msg(msg)
        values = (odometry.x_m, odometry.y_m, odometry.yaw_rad)
        if not np.all(np.isfinite(values)):
            self._reject(self._spec.ros.odom, MessageError(f"non-finite pose {values}"))
            return
        self._odometry = (self._clock_ns(), odometry)

    def _on_scan(self, msg: LaserScanMsg) -> None:
        assert self._laser is not None
        try:
            self._scan = scan_from_msg(msg, self._laser, self._clock_ns())
        except MessageError as err:
            self._reject(self._spec.ros.scan, err)

    def _reject(self, name: str, err: Exception) -> None:
        """Keep the last good state (the watchdog ages it) and say why this message was dropped."""
        self.last_message_error = f"{name}: {err}"
        self._node.get_logger().error(self.last_message_error, throttle_duration_sec=2.0)
