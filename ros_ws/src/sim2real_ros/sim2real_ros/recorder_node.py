"""``recorder_node``: records ROS 2 topics to a rosbag2 MCAP bag (version 9), as received.

Subscriptions are **raw** (``raw=True``): each message's CDR bytes go into the bag untouched,
nothing is deserialized or re-serialized. A message's log time is its arrival time
(``time.time_ns``, wall clock). Each topic's type comes from the ROS graph
(``get_topic_names_and_types``); a listed topic that has not appeared yet is looked for again every
``discovery_period_s``. The MCAP schema of each type comes from ``rosbags``' typestore.

Never losing what was received:

- Ctrl-C or SIGTERM: the node stops taking messages and closes the bag complete (MCAP summary
  and ``metadata.yaml``). The node installs its own handlers, as ``policy_node`` does: rclpy's
  would shut the context down first.
- SIGKILL (or a power cut): every ``checkpoint_period_s`` the chunk being filled is closed and the
  bag is made openable as it stands (:func:`episodes.recording.checkpoint_bag`), so a killed
  recorder leaves a bag that ``rosbags`` and the ``mcap`` reader open, with everything up to its
  last checkpoint. The trade-off: a shorter period loses less on a kill but writes more, smaller
  chunks (each has a few hundred bytes of index; at 0.5 s that is nothing beside 10k msgs/s).

Run::

    python -m sim2real_ros.recorder_node --ros-args -p output:=runs/bag1 -p robot:=ur5e
    python -m sim2real_ros.recorder_node --ros-args -p output:=runs/bag1 -p topics:="[/joint_states, /odom]"

With ``robot``, the topics are the robot's standard ones (joint states; odometry, scan and
``cmd_vel`` for a base; the arm controller's command topic) plus ``/policy_node/observation``,
``/policy_node/action`` and ``/diagnostics``.
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosbags.rosbag2 import StoragePlugin, Writer

import robots
from episodes import topics as T
from episodes.recording import BAG_VERSION, checkpoint_bag, ros2_typestore, run_metadata
from hardware.spec import RobotSpec

#: What a ``robot`` recording adds to the robot's own topics.
POLICY_TOPICS = (T.POLICY_NODE_OBSERVATION_TOPIC, T.POLICY_NODE_ACTION_TOPIC, "/diagnostics")
#: Most messages one callback takes from its queue before giving the executor back (timers).
DRAIN_MAX = 1000


def robot_topics(spec: RobotSpec) -> list[str]:
    """The standard topics of a robot, plus :data:`POLICY_TOPICS`."""
    ros = spec.ros
    topics = [ros.joint_states]
    if spec.kind == "base":
        topics += [ros.odom, ros.cmd_vel]
    else:
        topics.append(ros.arm_command_topic)
    if spec.sensors.laser is not None:
        topics.append(ros.scan)
    return topics + list(POLICY_TOPICS)


def message_class(ros_type: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name`` (what ``rosidl_runtime_py`` would give)."""
    package, kind, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class RecorderNode(Node):
    """The recorder (see the module docstring). Parameters:

    - ``output`` (str): the bag folder to create (must not exist).
    - ``topics`` (str[]): topics to record; with ``robot``, added to the robot's.
    - ``robot`` (str): a shipped robot's name or a robot YAML: record its standard topics.
    - ``bundle`` (str): the policy bundle driving the robot, for the bag's run metadata.
    - ``reliable`` (bool): subscribe reliable (a reliable publisher then never drops for us);
      best effort (default) also hears best-effort publishers such as laser drivers.
    - ``depth`` (int): subscription queue depth, messages.
    - ``checkpoint_period_s`` (double): how often the bag is made openable, s (what a kill loses).
    - ``discovery_period_s`` (double): how often topics not seen yet are looked for, s.
    """

    def __init__(self, node_name: str = "recorder_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._declare("output", "", "bag folder to create (must not exist)")
        self._declare("topics", Parameter.Type.STRING_ARRAY, "topics to record")
        self._declare("robot", "", "shipped robot name or robot YAML: record its standard topics")
        self._declare("bundle", "", "the policy bundle driving the robot (run metadata)")
        self._declare("reliable", False, "reliable subscriptions (else best effort, which hears any publisher)")
        self._declare("depth", 1000, "subscription queue depth, messages")
        self._declare("checkpoint_period_s", 0.5, "how often the bag is made openable after a kill, s")
        self._declare("discovery_period_s", 0.5, "how often topics not seen yet are looked for, s")
        output = str(self.get_parameter("output").value)
        if not output:
            raise ValueError("parameter 'output' is empty; set it to a new bag folder (output:=PATH)")
        try:
            topics = list(self.get_parameter("topics").value or [])
        except ParameterUninitializedException:  # a string array has no empty default: not given
            topics = []
        robot = str(self.get_parameter("robot").value)
        spec = RobotSpec.from_yaml(robots.robot_yaml(robot)) if robot else None
        wanted = (robot_topics(spec) if spec is not None else []) + topics
        if not wanted:
            raise ValueError("nothing to record: set topics:=[/joint_states, ...] or robot:=NAME")
        self.wanted = list(dict.fromkeys(self.resolve_topic_name(t) for t in wanted))
        reliable = bool(self.get_parameter("reliable").value)
        reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        self._qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=int(self.get_parameter("depth").value), reliability=reliability
        )
        self.typestore = ros2_typestore()
        self.writer = Writer(Path(output), version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        bundle = str(self.get_parameter("bundle").value)
        metadata = run_metadata(
            spec, recorded_by=self.get_fully_qualified_name(), **({"bundle": bundle} if bundle else {})
        )
        for key, value in metadata.items():
            self.writer.set_custom_data(key, value)
        self.writer.open()
        self.counts: dict[str, int] = {}
        self._recording: dict[str, Any] = {}
        self._drains: list[Any] = []
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._discovery: Any = self.create_timer(
            float(self.get_parameter("discovery_period_s").value), self._discover, clock=steady
        )
        self._discover()
        self.create_timer(float(self.get_parameter("checkpoint_period_s").value), self.checkpoint, clock=steady)
        self.get_logger().info(f"recording {self.wanted} to {output}")

    def _discover(self) -> None:
        """Subscribe to every wanted topic that has appeared; stop looking once all have."""
        graph = dict(self.get_topic_names_and_types())
        for topic in self.wanted:
            if topic in self._recording or topic not in graph:
                continue
            ros_type = graph[topic][0]
            try:
                msg_class = message_class(ros_type)
                connection = self.writer.add_connection(topic, ros_type, typestore=self.typestore)
            except Exception as err:  # an unknown type to rclpy or rosbags: say so, record the rest
                self.get_logger().error(f"cannot record {topic} ({ros_type}): {err}; skipped")
                self._recording[topic] = None
                continue
            self.counts[topic] = 0
            holder: list[Any] = []
            subscription = self.create_subscription(
                msg_class, topic, self._writer_for(topic, connection, holder), self._qos, raw=True
            )
            holder.append(subscription)
            self._recording[topic] = subscription
            self.get_logger().info(f"recording {topic} ({ros_type})")
        if len(self._recording) == len(self.wanted) and self._discovery is not None:
            self.destroy_timer(self._discovery)
            self._discovery = None

    def _writer_for(self, topic: str, connection: Any, holder: list[Any]) -> Any:
        """The raw callback of ``topic``: writes the message, then drains what else is queued.

        The executor costs far more per message than writing it (a wait set rebuilt for each
        one), so the callback takes the messages already waiting itself, through the
        subscription handle as the executor does (at most :data:`DRAIN_MAX` per call, so that
        the checkpoint timer still runs): at 10k msgs/s that halves the recorder's CPU.
        """
        write, counts, clock = self.writer.write, self.counts, time.time_ns

        def drain(limit: int) -> None:
            subscription, taken = holder[0], 0
            with subscription.handle:
                while taken < limit:
                    message = subscription.handle.take_message(subscription.msg_type, True)
                    if message is None:
                        break
                    write(connection, clock(), message[0])
                    taken += 1
            counts[topic] += taken

        def on_message(data: bytes) -> None:
            write(connection, clock(), data)
            counts[topic] += 1
            drain(DRAIN_MAX - 1)

        self._drains.append(drain)
        return on_message

    def checkpoint(self) -> None:
        """Make the bag openable as it stands (see :func:`episodes.recording.checkpoint_bag`)."""
        if self.writer.storage is not None:
            checkpoint_bag(self.writer)

    def close(self) -> None:
        """Write what is still queued, stop taking messages and close the bag complete (idempotent)."""
        if self.writer.storage is not None:
            for drain in self._drains:
                drain(sys.maxsize)
        for subscription in self._recording.values():
            if subscription is not None:
                self.destroy_subscription(subscription)
        self._recording = {t: None for t in self._recording}
        if self.writer.storage is not None:
            self.writer.close()
            total = sum(self.counts.values())
            self.get_logger().info(f"closed {self.writer.path}: {total} messages {self.counts}")

    def _declare(self, name: str, default: Any, description: str) -> None:
        self.declare_parameter(name, default, ParameterDescriptor(description=description))


def main(args: list[str] | None = None) -> int:
    """Record until Ctrl-C or SIGTERM, then close the bag complete."""
    # Our own signal handling (not rclpy's, which shuts the context down at once); SIGINT set
    # explicitly because a process started in the background inherits it ignored.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        node = RecorderNode()
    except Exception as err:  # a bad parameter or an existing bag: one line, exit 2
        print(f"recorder_node: {' '.join(str(err).split())}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A second signal while closing must not cut the bag short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
