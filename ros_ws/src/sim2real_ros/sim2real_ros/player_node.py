"""``player_node``: republish a bag onto ROS 2 topics like ``ros2 bag play``.

Every played topic gets a publisher of its type (reliable, depth 100), and each message is
published as the CDR bytes :class:`episodes.player.BagPlayback` gives (rosbag2 messages exactly as
recorded; ROS 1 messages converted), at its recorded time divided by ``rate``. With ``clock`` the
node also publishes ``/clock`` (``rosgraph_msgs/Clock``, the bag time playing) before each message
and at ``clock_hz`` in between, so nodes with ``use_sim_time`` follow the bag.

Parameters: ``bag`` (str), ``rate`` (double, 1.0), ``clock`` (bool), ``clock_hz`` (double, 40.0),
``loop`` (bool), ``start_offset_s`` (double, s), ``delay_s`` (double, s: wait this long before
playing, so subscribers have discovered the publishers, like ``ros2 bag play --delay``), ``mapping``
(str: a topic-mapping YAML, play only its topics; empty: every topic), ``wait_for_subscriber_s``
(double, s: first wait up to this long until some played topic has a subscriber; 0: do not wait).
The node exits when the bag is done (unless ``loop``).

Run: ``python -m sim2real_ros.player_node --ros-args -p bag:=runs/reach/episodes -p rate:=2.0``.
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock

from episodes.errors import EpisodeError
from episodes.player import BagPlayback, PlaybackClock

QUEUE_DEPTH = 100
# Longest sleep between checks while waiting for a message (keeps /clock and Ctrl-C responsive), s.
MAX_WAIT_S = 0.05


def message_class(msgtype: str) -> Any:
    """The rclpy message class of ``pkg/msg/Name``.

    :raises ImportError: the package's Python messages are not installed.
    """
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class PlayerNode(Node):
    """Publishes a :class:`BagPlayback` (see the module docstring).

    :param playback: the bag to play; ``None``: open the ``bag`` parameter's bag.
    """

    def __init__(self, playback: BagPlayback | None = None, node_name: str = "player_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameter("bag", "")
        self.declare_parameter("rate", 1.0)
        self.declare_parameter("clock", False)
        self.declare_parameter("clock_hz", 40.0)
        self.declare_parameter("loop", False)
        self.declare_parameter("start_offset_s", 0.0)
        self.declare_parameter("mapping", "")
        self.declare_parameter("delay_s", 0.0)
        self.declare_parameter("wait_for_subscriber_s", 0.0)
        if playback is None:
            bag = str(self.get_parameter("bag").value)
            if not bag:
                raise EpisodeError("player_node needs a bag: --ros-args -p bag:=PATH")
            mapping = str(self.get_parameter("mapping").value) or None
            offset = float(self.get_parameter("start_offset_s").value)
            playback = BagPlayback(bag, start_offset_s=offset, mapping=mapping)
        self.playback = playback
        self.published = 0
        profile = QoSProfile(depth=QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self._topic_pubs: dict[str, Any] = {}
        for topic, msgtype in playback.topics.items():
            try:
                self._topic_pubs[topic] = self.create_publisher(message_class(msgtype), topic, profile)
            except (ImportError, AttributeError):
                self.get_logger().warning(f"not playing {topic}: no Python messages for {msgtype} in this ROS install")
        self._clock_pub = self.create_publisher(Clock, "/clock", profile) if self.clock_enabled else None

    @property
    def rate(self) -> float:
        return float(self.get_parameter("rate").value)

    @property
    def clock_enabled(self) -> bool:
        return bool(self.get_parameter("clock").value)

    @property
    def loop(self) -> bool:
        return bool(self.get_parameter("loop").value)

    def play_once(self) -> int:
        """One pass over the bag at ``rate``; returns the messages published."""
        timing = PlaybackClock(self.playback.first_ns, time.monotonic(), self.rate)
        clock_period_s = 1.0 / max(float(self.get_parameter("clock_hz").value), 1e-3)
        next_clock_s = timing.wall_start_s
        count = 0
        for message in self.playback.messages():
            publisher = self._topic_pubs.get(message.topic)
            if publisher is None:
                continue
            due = timing.due_s(message.t_ns)
            while (now := time.monotonic()) < due:
                if self._clock_pub is not None and now >= next_clock_s:
                    self._publish_clock(timing.bag_time_ns(now))
                    next_clock_s = now + clock_period_s
                time.sleep(min(due - now, MAX_WAIT_S))
            if self._clock_pub is not None:
                self._publish_clock(message.t_ns)
            publisher.publish(message.data)
            count += 1
        self.published += count
        return count

    def play(self) -> None:
        """Play the bag (again and again with ``loop``), after the waits, logging each pass."""
        deadline = time.monotonic() + float(self.get_parameter("wait_for_subscriber_s").value)
        while time.monotonic() < deadline and not any(p.get_subscription_count() for p in self._topic_pubs.values()):
            time.sleep(0.01)
        time.sleep(max(float(self.get_parameter("delay_s").value), 0.0))
        while rclpy.ok(context=self.context):
            count = self.play_once()
            name, duration = self.playback.path.name, self.playback.duration_s
            self.get_logger().info(f"played {count} messages of {name} ({duration:.2f} s at {self.rate}x)")
            if not self.loop or count == 0:
                return

    def _publish_clock(self, t_ns: int) -> None:
        assert self._clock_pub is not None
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(t_ns), 1_000_000_000)
        self._clock_pub.publish(msg)


def run_player(playback: BagPlayback | None = None, args: list[str] | None = None, **parameters: Any) -> int:
    """Create a :class:`PlayerNode` (parameters from ``args`` and ``parameters``), play, shut down.

    :returns: 0 when done, 130 on Ctrl-C or SIGTERM, 2 when the bag cannot be played.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    overrides = [rclpy.parameter.Parameter(name, value=value) for name, value in parameters.items()]
    node: PlayerNode | None = None
    try:
        node = PlayerNode(playback, parameter_overrides=overrides)
        node.play()
        return 0
    except EpisodeError as err:
        print(f"player_node: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    """``player_node`` with its parameters from ``--ros-args``."""
    return run_player(None, args)


if __name__ == "__main__":
    sys.exit(main())
