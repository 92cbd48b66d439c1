"""The ROS side of ``bench_ros.py``: its driver node, and the ping-pong that is the floor a ROS 2
policy node cannot beat.

- :class:`Driver`: the benchmark process's node and executor, on a private context.
- :func:`pingpong`: round trips from the driver to an echo process and back.
- run as a script, the echo: subscribes ``bench/ping`` (``sensor_msgs/JointState``, best
  effort, how the policy node reads joint states) and, from that callback, publishes its
  positions on ``bench/pong`` (``std_msgs/Float64MultiArray``, reliable, how it sends
  forward-controller commands). Nothing else: no observation, network or safety layer, so a
  round trip is two hops of the messages the policy node exchanges plus one bare rclpy callback.
  Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from sim2real_ros import qos
from sim2real_ros.conversions import array_msg, joint_state_msg

PING_TOPIC = "bench/ping"
PONG_TOPIC = "bench/pong"
START_TIMEOUT_S = 60.0  # for the first pong (process start and discovery)


class Driver:
    """The benchmark process's ROS node and executor (a private context on ``domain_id``)."""

    def __init__(self, domain_id: int) -> None:
        self.context = Context()
        # Our own Ctrl-C handling: rclpy's would shut the context down before the children stop.
        rclpy.init(context=self.context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("bench_driver", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Handle callbacks until ``done()`` (True) or ``timeout_s`` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.executor.spin_once(timeout_sec=min(0.05, remaining))
        return True

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def steady_clock() -> Clock:
    return Clock(clock_type=ClockType.STEADY_TIME)


def received_qos() -> QoSProfile:
    """Reliable like the command subscriptions of ros2_control, with a queue long enough that no
    message is dropped between two spins of the (busy) driver."""
    return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def pingpong(
    driver: Driver,
    start_echo: Callable[[], tuple[subprocess.Popen[bytes], Any]],
    stop_echo: Callable[[subprocess.Popen[bytes]], object],
    count: int,
    rate_hz: float,
    warmup_s: float,
) -> dict[str, Any]:
    """``count`` round trips through the echo process (started by ``start_echo``, which returns it
    and its log), pinged at ``rate_hz`` from a steady timer after ``warmup_s`` of warm-up.

    :returns: ``round_trips`` and ``lost`` (counts), ``p50_ms``, ``p99_ms``, and ``_ns``: every
        round trip, ns (``time.monotonic_ns`` at the pong's callback minus before the publish).
    """
    node, zeros = driver.node, np.zeros(6)
    names = [f"joint_{i}" for i in range(6)]
    sent: dict[int, int] = {}  # sequence number (carried in position[0]) -> send time, ns
    round_trips: list[int] = []
    sequence = [0]

    def on_pong(msg: Float64MultiArray) -> None:
        arrival = time.monotonic_ns()
        started = sent.pop(int(msg.data[0]), None)
        if started is not None:
            round_trips.append(arrival - started)

    def ping() -> None:
        sequence[0] += 1
        msg = joint_state_msg(names, [sequence[0], 0, 0, 0, 0, 0], zeros, zeros, time.monotonic_ns())
        sent[sequence[0]] = time.monotonic_ns()
        publisher.publish(msg)

    publisher = node.create_publisher(JointState, PING_TOPIC, qos.STATE_PUBLISHER)
    subscription = node.create_subscription(Float64MultiArray, PONG_TOPIC, on_pong, received_qos())
    echo, log = start_echo()
    timer = node.create_timer(1.0 / rate_hz, ping, clock=steady_clock())
    try:
        if not driver.spin_until(lambda: bool(round_trips) or echo.poll() is not None, START_TIMEOUT_S):
            raise RuntimeError(f"no pong from the echo process in {START_TIMEOUT_S:.0f} s; see {log}")
        if echo.poll() is not None:
            raise RuntimeError(f"the echo process exited with status {echo.returncode}; see {log}")
        driver.spin_until(lambda: False, warmup_s)
        round_trips.clear()
        first = sequence[0]
        print(f"  ping-pong: {count} round trips at {rate_hz:g} Hz ...", flush=True)
        driver.spin_until(lambda: sequence[0] - first >= count, 2.0 * count / rate_hz + 10.0)
        timer.cancel()
        driver.spin_until(lambda: False, 0.05)  # the last pongs in flight
    finally:
        node.destroy_timer(timer)
        stop_echo(echo)
        node.destroy_subscription(subscription)
        node.destroy_publisher(publisher)
    rtt = np.asarray(round_trips, dtype=np.int64)
    values_ms = rtt * 1e-6
    return {
        "round_trips": int(rtt.size),
        "lost": int(sequence[0] - first - rtt.size),
        "p50_ms": float(np.percentile(values_ms, 50)),
        "p99_ms": float(np.percentile(values_ms, 99)),
        "_ns": rtt,
    }


def main() -> int:
    """The echo: answer every ping until interrupted."""
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = rclpy.create_node("bench_echo")
    publisher = node.create_publisher(Float64MultiArray, PONG_TOPIC, qos.COMMAND)
    node.create_subscription(
        JointState, PING_TOPIC, lambda msg: publisher.publish(array_msg(msg.position)), qos.STATE_SUBSCRIPTION
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
