"""``policy_node``: a policy bundle driving a robot over ROS 2, as a lifecycle node.

- **configure**: load the bundle (``policies.load_bundle``) and check it against the robot spec;
  a mismatch fails the transition, and the log says what differs. Create the
  :class:`~sim2real_ros.ros2_robot.Ros2Robot` and the deployment loop
  (:class:`policies.deploy.PolicyRunner`, the same code as ``sim2real run`` in simulation).
- **activate**: a steady-clock timer at the robot's control rate calls :meth:`PolicyNode.tick`;
  each tick reads the cached state, builds the observation with the task's code, runs the
  network (onnxruntime), passes the command through the safety layer, and publishes it.
- **deactivate**: stop the timer and send the hold command (position: stay; twist: zero).

Safety: the watchdog holds when the state is older than the robot's ``watchdog_timeout_s``
(subscriptions stamp arrivals, so a silent driver ages the state); the e-stop latches from the
``estop`` topic (``std_msgs/Bool``, transient local: a late joiner hears a pressed button) or
the ``~/estop`` service (``std_srvs/SetBool``: true engages, false resets; a reset is refused
while the topic still reads true). While e-stopped every published command is a hold.

Status on ``/diagnostics`` once a second; the policy's observation and action on
``~/observation`` and ``~/action`` (``std_msgs/Float64MultiArray``, segments named in
``layout.dim``) for recording. Goal-conditioned tasks take the goal from the ``goal`` parameter
or the ``goal`` topic (``geometry_msgs/PointStamped``: the arm's target in its base frame, or the
base's target ``x, y`` in the odometry frame); a new goal starts a new episode of the task.

Run: ``python -m sim2real_ros.policy_node --ros-args -p bundle:=runs/reach/bundle -p autostart:=true``.
With ``autostart`` the node configures and activates itself (and exits with status 1 when
configuration fails); without it, a lifecycle manager drives the transitions.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool

from hardware.errors import HardwareError
from sim.tasks import flat_observation
from sim2real_ros import qos
from sim2real_ros.conversions import array_msg
from sim2real_ros.diagnostics import ERROR, OK, WARN, diagnostic_array
from sim2real_ros.loop_stats import LoopStats
from sim2real_ros.ros2_robot import Ros2Robot

DIAGNOSTICS_PERIOD_S = 1.0


class PolicyNode(LifecycleNode):
    """The policy node (see the module docstring). Parameters:

    - ``bundle`` (str): the policy bundle folder.
    - ``robot`` (str): a shipped robot's name or a robot YAML; the bundle's robot when empty.
    - ``autostart`` (bool): configure and activate at startup.
    - ``goal`` (double[]): the task's goal, m (empty: wait for the ``goal`` topic).
    - ``stats_file`` (str): write every tick's timing to this ``.npz`` on deactivate and exit.
    """

    def __init__(self, node_name: str = "policy_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._declare("bundle", "", "policy bundle folder")
        self._declare("robot", "", "shipped robot name or robot YAML; the bundle's robot when empty")
        self._declare("autostart", False, "configure and activate at startup")
        self._declare("goal", "", "the task's goal, m, e.g. [0.4, 0.1, 0.5]; empty: wait for the goal topic")
        self._declare("rate", 0.0, "expected control rate, Hz: configure fails if the bundle's differs; 0: any")
        self._declare("stats_file", "", "write tick timings to this .npz on deactivate and exit")
        self.runner: Any = None
        self.robot: Ros2Robot | None = None
        self.stats: LoopStats | None = None
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._timer: Any = None
        self._started = False
        self._goal_size = 0
        self._has_goal = False
        self._status = ("unconfigured", WARN)
        self._configure_error: str | None = None
        self._estop_reason: str | None = None
        self._estop_pressed = False
        self._entities: list[Any] = []  # created on configure, destroyed on cleanup

        # The e-stop works in every lifecycle state, configured or not.
        self.create_subscription(Bool, "estop", self._on_estop_topic, qos.LATCHED)
        self.create_service(SetBool, "~/estop", self._on_estop_service)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", qos.STATUS)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics, clock=self._steady)
        if self.get_parameter("autostart").value:
            self._autostart = self.create_timer(0.0, self._start_up, clock=self._steady)

    # --- lifecycle -----------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from policies.bundle import BundleError, load_bundle
        from policies.deploy import PolicyRunner, robot_spec

        bundle_path = str(self.get_parameter("bundle").value)
        try:
            if not bundle_path:
                raise ValueError("parameter 'bundle' is empty; set it to a policy bundle folder (bundle:=PATH)")
            spec = robot_spec(str(self.get_parameter("robot").value) or None, bundle_path)
            rate = float(self.get_parameter("rate").value)
            if rate and abs(rate - spec.control_rate_hz) > 1e-9:
                raise ValueError(
                    f"parameter rate is {rate:g} Hz but robot '{spec.name}' runs at {spec.control_rate_hz:g} Hz; "
                    "fix the launch argument or the robot YAML"
                )
            bundle = load_bundle(bundle_path, spec)
            task = bundle.make_task(spec)
            goal = parse_goal(self.get_parameter("goal").value)
            if task.observed_objects:
                raise ValueError(
                    f"task {bundle.task_name} observes objects {list(task.observed_objects)}, and the policy node has "
                    "no perception input for them yet; deploy a task without objects"
                )
        except (BundleError, HardwareError, ValueError, OSError) as err:
            self._configure_error = f"configure failed: {err}"
            self.get_logger().error(self._configure_error)
            self._status = (self._configure_error, ERROR)
            return TransitionCallbackReturn.FAILURE
        self._configure_error = None
        self.robot = Ros2Robot(spec, self)
        self.runner = PolicyRunner(bundle, self.robot, task, clock_ns=time.monotonic_ns)
        if self._estop_reason is not None:
            self.runner.robot.layer.engage_estop(self._estop_reason)
        self.stats = LoopStats(spec.control_period_s)
        self._observation_pub = self.create_publisher(Float64MultiArray, "~/observation", qos.STATUS)
        self._action_pub = self.create_publisher(Float64MultiArray, "~/action", qos.STATUS)
        self._entities = [self._observation_pub, self._action_pub]
        self._goal_size = _goal_size(task)
        self._has_goal = False
        if self._goal_size:
            if goal:
                self._set_goal(goal)
            self._entities.append(self.create_subscription(PointStamped, "goal", self._on_goal, qos.COMMAND))
        self.get_logger().info(
            f"configured: bundle {bundle_path} ({bundle.task_name}, {bundle.algorithm}) on '{spec.name}' at "
            f"{spec.control_rate_hz:g} Hz, parity error {bundle.parity_max_error:.2g}"
        )
        self._status = ("configured", WARN)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.runner is not None
        self._started = False
        self._timer = self.create_timer(self.runner.robot.spec.control_period_s, self.tick, clock=self._steady)
        self._status = ("active", OK)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_loop()
        self._status = ("inactive: holding", WARN)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._status = ("unconfigured", WARN)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_loop()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _start_up(self) -> None:
        """autostart: configure then activate, once; exit with status 1 if configure fails."""
        self.destroy_timer(self._autostart)
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise NodeExit(1)
        self.trigger_activate()

    def _stop_loop(self) -> None:
        """Stop ticking, send the hold command, save the timings."""
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self.runner is not None and self.robot is not None and self.robot.ready() and self._started:
            self.runner.hold()
        self._started = False
        stats_file = str(self.get_parameter("stats_file").value)
        if stats_file and self.stats is not None and self.stats.count:
            self.get_logger().info(f"tick timings written to {self.stats.save(stats_file)}")

    def _release(self) -> None:
        if self.robot is not None:
            self.robot.close()
        for entity in self._entities:
            if hasattr(entity, "publish"):
                self.destroy_publisher(entity)
            else:
                self.destroy_subscription(entity)
        self._entities.clear()
        self.robot = self.runner = None

    # --- the control loop ----------------------------------------------------------------------

    def tick(self) -> None:
        """One control period: read the cached state; act when due; publish the safe command."""
        start = time.monotonic_ns()
        robot, runner = self.robot, self.runner
        assert robot is not None and runner is not None
        if not robot.ready():
            self._status = (f"waiting for {', '.join(robot.waiting_for)}", WARN)
            return
        if self._goal_size and not self._has_goal:
            self._status = ("waiting for a goal (goal topic or parameter)", WARN)
            return
        if not self._started:
            runner.start()
            self._started = True
        tick = runner.tick()
        published = time.monotonic_ns()
        assert self.stats is not None
        self.stats.record(start, robot.state_arrival_ns, published, tick.report.held)
        if tick.acted:
            self._observation_pub.publish(array_msg(*flat_observation(tick.observation)))
            self._action_pub.publish(array_msg(tick.action, [("action", int(np.size(tick.action)))]))
        report = tick.report
        if report.estop:
            self._status = (f"e-stop: {runner.robot.layer.estop_reason}", ERROR)
        elif report.watchdog:
            self._status = (f"watchdog: state is {report.state_age_s * 1e3:.0f} ms old; holding", WARN)
        else:
            self._status = ("active", OK)

    # --- goals and e-stop ----------------------------------------------------------------------

    def _set_goal(self, goal: list[float]) -> None:
        assert self.runner is not None
        values = goal[: self._goal_size]
        try:
            self.runner.task.set_goal(values)
        except ValueError as err:
            self.get_logger().error(f"goal {goal} refused: {err}")
            return
        self._has_goal = True
        if self._started:
            self.runner.restart_task()
        self.get_logger().info(f"goal set to {values}")

    def _on_goal(self, msg: PointStamped) -> None:
        self._set_goal([msg.point.x, msg.point.y, msg.point.z])

    def _engage_estop(self, reason: str) -> None:
        if self._estop_reason is None:
            self.get_logger().warning(f"e-stop engaged: {reason}")
        self._estop_reason = self._estop_reason or reason
        if self.runner is not None:
            if self._started:
                self.runner.robot.engage_estop(reason)  # sends the hold at once
            else:
                self.runner.robot.layer.engage_estop(reason)

    def _on_estop_topic(self, msg: Bool) -> None:
        self._estop_pressed = bool(msg.data)
        if msg.data:
            self._engage_estop("e-stop topic")
        elif self._estop_reason is not None:
            self.get_logger().info("e-stop released; the latch stays until the ~/estop service resets it")

    def _on_estop_service(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data:
            self._engage_estop("e-stop service")
            response.success, response.message = True, "e-stop engaged"
        elif self._estop_pressed:
            response.success, response.message = False, "the e-stop topic still reads true; release it first"
        else:
            self._estop_reason = None
            if self.runner is not None:
                self.runner.robot.reset_estop()
            self.get_logger().info("e-stop reset")
            response.success, response.message = True, "e-stop reset"
        return response

    # --- diagnostics ---------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        message, level = self._status
        if self._estop_reason is not None:
            message, level = f"e-stop: {self._estop_reason}", ERROR
        values: dict[str, object] = {"estop": self._estop_reason is not None, "active": self._timer is not None}
        if self.runner is not None and self.stats is not None:
            report = self.runner.robot.last_report
            counts = self.runner.counts
            rate = self.runner.robot.spec.control_rate_hz
            values.update(
                watchdog=report.watchdog,
                state_age_ms=report.state_age_s * 1e3,
                held_ticks=counts.held,
                clamped_ticks=counts.clamped,
                ticks=self.stats.count,
                **self.stats.summary(last=round(rate * DIAGNOSTICS_PERIOD_S) + 1),
            )
        if self.robot is not None and self.robot.last_message_error:
            values["last_message_error"] = self.robot.last_message_error
        robot = self.runner.robot.spec.name if self.runner is not None else ""
        self._diagnostics.publish(
            diagnostic_array(
                self.get_fully_qualified_name(), robot, level, message, values, self.get_clock().now().nanoseconds
            )
        )

    def _declare(self, name: str, default: Any, description: str) -> None:
        # Dynamic typing: launch files pass text, so `rate:=10` (an int) must be accepted as 10.0,
        # and `goal` may be a list or a string.
        self.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=True))


def parse_goal(value: Any) -> list[float]:
    """The ``goal`` parameter as numbers: a list, or text such as ``"[0.4, 0.1, 0.5]"`` or
    ``"0.4, 0.1, 0.5"``; empty means none.

    :raises ValueError: not a list of numbers.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str):
        import yaml

        text = value.strip()
        value = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"goal parameter {value!r} is not a list of numbers; give it as [x, y, z] in m") from None


def _goal_size(task: Any) -> int:
    """How many goal values the task takes: the arm's target (3), the base's ``x, y`` (2), none (0)."""
    from sim.tasks import GoalTask

    if isinstance(task, GoalTask):
        return int(task.observation_space["desired_goal"].shape[0])
    return 2 if hasattr(task, "goal_xy") else 0


class NodeExit(Exception):
    """Raised from a callback to end :func:`main` with ``code`` (e.g. configuration failed)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit {code}")
        self.code = code


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or SIGTERM, then hold the robot and exit."""
    # Our own signal handling (not rclpy's): rclpy's shuts the context down at once, and the
    # node could then not publish its hold command on the way out. SIGINT is set explicitly
    # because a process started in the background inherits it ignored.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = PolicyNode()
    # rclpy.experimental.EventsExecutor would cost less per spin, but here it ignored signals
    # and kept spinning at full CPU after its future completed; the plain executor it is.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    code = 0
    try:
        executor.spin()
    except NodeExit as exit_request:
        code = exit_request.code
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_loop()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
