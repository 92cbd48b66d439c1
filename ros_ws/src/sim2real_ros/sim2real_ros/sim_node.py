"""``sim_node``: a simulated robot that speaks the topics of its real ros2_control driver.

The same launch graph runs against this node or the hardware: the node publishes and
subscribes exactly what the robot's driver does (the robot YAML's ``ros`` section), so the
policy node cannot tell them apart. Run it as::

    python -m sim2real_ros.sim_node --ros-args -p robot:=ur5e -p backend:=mujoco
    python -m sim2real_ros.sim_node --ros-args -p robot:=burger -p task:=BaseNavigate -r __ns:=/robot1

Topics (the spec's names with the leading ``/`` stripped, so the node's namespace applies: in
namespace ``ns``, ``/joint_states`` becomes ``/ns/joint_states``; the policy node resolves the
same way):

- arms: publishes ``joint_states`` (``sensor_msgs/JointState``, every step, spec joint order);
  subscribes ``<controller>/commands`` (``std_msgs/Float64MultiArray``, spec joint order) or
  ``<controller>/joint_trajectory`` (``trajectory_msgs/JointTrajectory``, matched by name),
  as ``ros.command_type`` says;
- bases: subscribes ``cmd_vel`` (``geometry_msgs/TwistStamped``, or ``Twist`` when
  ``ros.cmd_vel_stamped`` is false); publishes ``odom`` (``nav_msgs/Odometry``, every step,
  ``odom_frame`` -> ``base_frame``, starting at zero where the base starts), ``scan``
  (``sensor_msgs/LaserScan`` at the laser's rate, sensor-data QoS, frame = the laser link) and
  ``joint_states`` (the wheels);
- ``/clock`` (``rosgraph_msgs/Clock``, absolute) when ``publish_clock`` is true: simulation time, which
  then also stamps every message (otherwise they carry the node's ROS time);
- service ``~/reset`` (``std_srvs/Trigger``): back to the initial state.

A command that does not fit (wrong size, unknown joints, NaN) is logged (throttled) and
ignored. The simulation steps on a steady-clock timer at ``rate_hz``; what a step does is
:class:`sim2real_ros.sim_driver.SimDriver`. State latency is applied per step, so its
resolution is one period.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
import yaml
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan as LaserScanMsg
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

import robots
from hardware.errors import HardwareError
from hardware.spec import RobotSpec
from hardware.state import RobotState
from policies.bundle import BundleError
from sim.backends import BACKENDS, make_robot
from sim.dynamics import DynamicsParams
from sim2real_ros import qos
from sim2real_ros.conversions import (
    from_time,
    joint_state_msg,
    odometry_msg,
    relative_topic,
    scan_msg,
    to_time,
    twist_from_msg,
)
from sim2real_ros.sim_driver import AUTO_RATE_HZ, CommandRejected, DelayQueue, SimDriver, driver_spec, task_world

NODE_NAME = "sim_node"
#: Absolute: nodes with use_sim_time listen on /clock whatever their namespace.
CLOCK_TOPIC = "/clock"
#: Least time between two log lines about bad commands or slow steps, s.
LOG_THROTTLE_S = 2.0
#: Step times kept for the summary's mean and percentile (the last minute at 100 Hz).
STEP_TIMES_KEPT = 6000

PARAMETERS: list[tuple[str, Any, str]] = [
    ("robot", "ur5e", "a shipped robot's name or a robot YAML path"),
    ("backend", "mujoco", f"simulator: {' | '.join(BACKENDS)}"),
    (
        "rate_hz",
        0.0,
        f"step (and state publishing) rate, Hz; 0 = {AUTO_RATE_HZ['arm']:g} arms, "
        f"{AUTO_RATE_HZ['base']:g} bases; its period must be a multiple of the physics timestep",
    ),
    ("bundle", "", "policy bundle folder: its task's world (maze, objects) is built around the robot"),
    ("task", "", "task name (sim.tasks.TASKS) whose world is built, when there is no bundle"),
    ("task_kwargs", "", "the task's settings, a YAML mapping, e.g. '{maze_seed: 3}'"),
    ("initial_position", Parameter.Type.DOUBLE_ARRAY, "arm joints at start and reset, spec order, rad; [] = home"),
    (
        "initial_pose",
        Parameter.Type.DOUBLE_ARRAY,
        "base [x_m, y_m, yaw_rad] in the world; [] = origin, facing +x (the centre of a maze's cell (0, 0))",
    ),
    ("cmd_vel_timeout_s", 0.5, "a cmd_vel older than this is replaced by zero twist, s (diff_drive_controller)"),
    ("publish_clock", False, "publish /clock with simulation time and stamp messages with it"),
    ("command_latency_s", 0.0, "delay of each command before it takes effect, s"),
    ("state_latency_s", 0.0, "delay of each state message before it is published, s (resolution: one step)"),
    ("jitter_s", 0.0, "uniform extra delay on each command and state message, s"),
    ("position_noise_std", 0.0, "Gaussian noise on reported joint positions, rad"),
    ("velocity_noise_std", 0.0, "Gaussian noise on reported joint velocities, rad/s"),
    ("odometry_noise_std", 0.0, "Gaussian noise on reported odometry x, y (m) and yaw (rad)"),
    ("scan_noise_std", 0.0, "Gaussian noise on each laser range, m"),
    ("seed", 0, "seeds the sensor noise and the jitter"),
    ("odom_frame", "odom", "frame_id of odom"),
    ("base_frame", "base_link", "child_frame_id of odom"),
]


class SimNodeConfigError(ValueError):
    """A parameter the node cannot run with; the message names it and the fix."""


class SimNode(Node):
    """The simulated driver node (see the module docstring). Raises :class:`SimNodeConfigError`
    for bad parameters. Call :meth:`close` after spinning."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        p = self._read_parameters()
        self._publish_clock = bool(p["publish_clock"])
        self.driver = self._make_driver(p)
        spec = self.spec = self.driver.spec
        self._odom_frame, self._base_frame = str(p["odom_frame"]), str(p["base_frame"])
        self._states: DelayQueue[tuple[Publisher[Any], Any]] = DelayQueue(
            float(p["state_latency_s"]), float(p["jitter_s"]), np.random.default_rng([int(p["seed"]), 2])
        )
        self._clock_pub: Publisher[ClockMsg] | None = None
        if self._publish_clock:
            self._clock_pub = self.create_publisher(ClockMsg, CLOCK_TOPIC, qos.STATE_PUBLISHER)
        self._joint_states = self.create_publisher(
            JointState, relative_topic(spec.ros.joint_states), qos.STATE_PUBLISHER
        )
        self._odom: Publisher[OdometryMsg] | None = None
        self._scan: Publisher[LaserScanMsg] | None = None
        self._last_scan: object = None
        if spec.kind == "arm":
            command = self._arm_subscription()
        else:
            command = self._base_subscription()
            self._odom = self.create_publisher(OdometryMsg, relative_topic(spec.ros.odom), qos.STATE_PUBLISHER)
            if spec.sensors.laser is not None:
                self._scan = self.create_publisher(LaserScanMsg, relative_topic(spec.ros.scan), qos.SENSOR_DATA)
        self.create_service(Trigger, "~/reset", self._reset)
        # Step compute times, s: the recent ones (for percentiles), the count and the maximum.
        self._step_times: collections.deque[float] = collections.deque(maxlen=STEP_TIMES_KEPT)
        self._steps, self._step_time_max_s = 0, 0.0
        self._started = time.monotonic()
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer = self.create_timer(self.driver.period_s, self._step, clock=steady)
        published = [pub.topic_name for pub in (self._joint_states, self._odom, self._scan, self._clock_pub) if pub]
        self.get_logger().info(
            f"robot '{spec.name}' ({spec.yaml_path}) in {p['backend']} at {spec.control_rate_hz:g} Hz; "
            f"publishes {', '.join(published)}; subscribes {command}"
        )

    # --- setup -------------------------------------------------------------------------------

    def _read_parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, default, description in PARAMETERS:
            try:
                self.declare_parameter(name, default, ParameterDescriptor(description=description))
            except InvalidParameterTypeException as error:
                raise SimNodeConfigError(f"parameter {error} (write doubles with a decimal point: 100.0)") from None
            fallback: Parameter[Any] | None = (
                Parameter(name, Parameter.Type.DOUBLE_ARRAY, []) if isinstance(default, Parameter.Type) else None
            )
            values[name] = self.get_parameter_or(name, fallback).value
        return values

    def _make_driver(self, p: dict[str, Any]) -> SimDriver:
        try:
            nominal = RobotSpec.from_yaml(robots.robot_yaml(p["robot"]))
            spec = driver_spec(nominal, p["rate_hz"])
            if spec.kind == "arm" and spec.ros.command_type == "trajectory" and spec.command_interface != "position":
                raise ValueError(f"'{spec.name}': trajectory commands need command_interface position")
            kwargs = yaml.safe_load(p["task_kwargs"]) if p["task_kwargs"] else {}
            if not isinstance(kwargs, dict):
                raise ValueError(f"task_kwargs must be a YAML mapping, got {p['task_kwargs']!r}")
            layout = task_world(nominal, bundle=p["bundle"], task=p["task"], task_kwargs=kwargs)
            dynamics = DynamicsParams(
                position_noise_std=p["position_noise_std"],
                velocity_noise_std=p["velocity_noise_std"],
                odometry_noise_std=p["odometry_noise_std"],
                scan_noise_std=p["scan_noise_std"],
            )
            dynamics.check_for(spec)
            robot = make_robot(spec, p["backend"], world=layout, dynamics=dynamics)
            try:
                return SimDriver(
                    robot,
                    cmd_vel_timeout_s=p["cmd_vel_timeout_s"],
                    command_latency_s=p["command_latency_s"],
                    jitter_s=p["jitter_s"],
                    seed=p["seed"],
                    initial_position=p["initial_position"] or None,
                    initial_pose=p["initial_pose"] or None,
                )
            except Exception:
                robot.close()
                raise
        except (ValueError, FileNotFoundError, HardwareError, BundleError, yaml.YAMLError) as error:
            raise SimNodeConfigError(str(error).splitlines()[0]) from None

    def _arm_subscription(self) -> str:
        topic = relative_topic(self.spec.ros.arm_command_topic)
        if self.spec.ros.command_type == "forward":
            self.create_subscription(Float64MultiArray, topic, self._guarded(topic, self._on_forward), qos.COMMAND)
            return f"{self.resolve_topic_name(topic)} (Float64MultiArray)"
        self.create_subscription(JointTrajectory, topic, self._guarded(topic, self._on_trajectory), qos.COMMAND)
        return f"{self.resolve_topic_name(topic)} (JointTrajectory)"

    def _base_subscription(self) -> str:
        topic = relative_topic(self.spec.ros.cmd_vel)
        kind = TwistStamped if self.spec.ros.cmd_vel_stamped else Twist
        self.create_subscription(kind, topic, self._guarded(topic, self._on_twist), qos.COMMAND)
        return f"{self.resolve_topic_name(topic)} ({kind.__name__})"

    # --- callbacks -----------------------------------------------------------------------------

    def _guarded(self, topic: str, handle: Callable[[Any], None]) -> Callable[[Any], None]:
        """``handle`` with bad commands logged (throttled) and ignored."""
        name = self.resolve_topic_name(topic)

        def callback(msg: Any) -> None:
            try:
                handle(msg)
            except CommandRejected as error:
                self.get_logger().error(f"{name}: {error}; command ignored", throttle_duration_sec=LOG_THROTTLE_S)

        return callback

    def _on_forward(self, msg: Float64MultiArray) -> None:
        self.driver.command_forward(msg.data)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        stamp_ns = from_time(msg.header.stamp)
        start_s = None if stamp_ns == 0 else self.driver.time_s + (stamp_ns - self._now_ns()) * 1e-9
        points = [(from_time(point.time_from_start) * 1e-9, point.positions) for point in msg.points]
        self.driver.command_trajectory(msg.joint_names, points, start_s=start_s)

    def _on_twist(self, msg: Twist | TwistStamped) -> None:
        self.driver.command_twist(twist_from_msg(msg))

    def _reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.driver.reset()
        self._states.clear()
        response.success = True
        response.message = f"'{self.spec.name}' reset to its initial state"
        return response

    # --- the step ----------------------------------------------------------------------------

    def _now_ns(self) -> int:
        """Time on the clock that stamps messages: simulation time, or the node's ROS time."""
        return self.driver.time_ns if self._publish_clock else self.get_clock().now().nanoseconds

    def _step(self) -> None:
        started = time.perf_counter()
        state = self.driver.step()
        stamp_ns = self._now_ns()
        if self._clock_pub is not None:
            self._clock_pub.publish(ClockMsg(clock=to_time(stamp_ns)))
        now_s = self.driver.time_s
        for publisher, msg in self._state_messages(state, stamp_ns):
            self._states.push((publisher, msg), now_s)
        for publisher, msg in self._states.pop_due(now_s):
            publisher.publish(msg)
        elapsed = time.perf_counter() - started
        self._step_times.append(elapsed)
        self._steps += 1
        self._step_time_max_s = max(self._step_time_max_s, elapsed)
        if elapsed > self.driver.period_s:
            self.get_logger().warning(
                f"a step took {elapsed * 1e3:.1f} ms, more than the {self.driver.period_s * 1e3:.1f} ms period: "
                "simulation time falls behind; lower rate_hz",
                throttle_duration_sec=LOG_THROTTLE_S,
            )

    def _state_messages(self, state: RobotState, stamp_ns: int) -> list[tuple[Publisher[Any], Any]]:
        spec = self.spec
        out: list[tuple[Publisher[Any], Any]] = [
            (
                self._joint_states,
                joint_state_msg(spec.joint_names, state.position, state.velocity, state.effort, stamp_ns),
            )
        ]
        if self._odom is not None and state.odometry is not None:
            msg = odometry_msg(state.odometry, stamp_ns, self._odom_frame, self._base_frame)
            out.append((self._odom, msg))
        laser, scan = spec.sensors.laser, state.scan
        if self._scan is not None and laser is not None and scan is not None and scan is not self._last_scan:
            self._last_scan = scan
            out.append((self._scan, scan_msg(scan, laser, stamp_ns, laser.link)))
        return out

    def summary(self) -> str:
        """Achieved step rate and step compute times (mean and p99 of the recent steps), one line."""
        if not self._steps:
            return "no steps taken"
        wall = time.monotonic() - self._started
        recent = np.array(self._step_times) * 1e3
        return (
            f"{self._steps} steps in {wall:.1f} s ({self._steps / wall:.1f} Hz, target {self.spec.control_rate_hz:g}); "
            f"step time mean {recent.mean():.2f} ms, p99 {np.percentile(recent, 99):.2f} ms, "
            f"max {self._step_time_max_s * 1e3:.2f} ms"
        )

    def close(self) -> None:
        """Stop stepping and close the simulator."""
        self._timer.cancel()
        self.driver.close()


def main(args: list[str] | None = None) -> None:
    """Run the node until SIGINT / SIGTERM (exit 0); bad parameters exit 2 with a one-line error."""
    node: SimNode | None = None
    try:
        rclpy.init(args=args)
        node = SimNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SimNodeConfigError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(error))
        raise SystemExit(2) from None
    finally:
        if node is not None:
            summary = node.summary()
            node.close()
            node.destroy_node()
            rclpy.logging.get_logger(NODE_NAME).info(summary)
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
