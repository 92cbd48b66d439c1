"""Helpers for tests that talk real ROS 2 (rclpy over Fast DDS) to nodes in subprocesses.

- :func:`ros_context`: a private rclpy context, a node and an executor for the test process
  (nothing global, so tests never share ROS state);
- :func:`spin_until`, :func:`spin_for`: bounded waits (never sleep);
- :class:`Collector`: every message of a topic with its arrival time;
- :func:`start_node`, :func:`stop_process`: a node as ``python -m MODULE --ros-args ...``;
- :func:`robot_variant`: a shipped robot's YAML with its ``ros`` section changed.

The ROS domain comes from ``ROS_DOMAIN_ID`` in the environment, which ``tests/conftest.py``
sets per test; the subprocesses inherit it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
import yaml
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

import robots
from sim2real_ros.qos import STATE_SUBSCRIPTION

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextmanager
def ros_context(name: str = "test_client") -> Iterator[tuple[Context, Node, SingleThreadedExecutor]]:
    """A fresh context (on ``ROS_DOMAIN_ID``), a node ``name`` in it and an executor spinning it;
    all shut down on exit."""
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield context, node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def spin_until(executor: SingleThreadedExecutor, predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Spin until ``predicate()`` is true (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        executor.spin_once(timeout_sec=min(0.02, remaining))
    return True


def spin_for(executor: SingleThreadedExecutor, duration_s: float) -> None:
    """Spin (handling callbacks) for ``duration_s``."""
    spin_until(executor, lambda: False, duration_s)


class Collector:
    """Collects every message of ``topic`` with its arrival time (``time.monotonic``, s).

    :param qos: best effort by default, which receives from reliable and best-effort publishers.
    """

    def __init__(self, node: Node, msg_type: Any, topic: str, qos: QoSProfile = STATE_SUBSCRIPTION) -> None:
        self.topic = topic
        self.messages: list[Any] = []
        self.arrivals_s: list[float] = []
        # Depth 1 would drop messages that arrive between two spins; keep a longer queue.
        profile = QoSProfile(depth=max(qos.depth, 100), reliability=qos.reliability, history=qos.history)
        self.subscription = node.create_subscription(msg_type, topic, self._on_message, profile)

    def _on_message(self, msg: Any) -> None:
        self.messages.append(msg)
        self.arrivals_s.append(time.monotonic())

    @property
    def last(self) -> Any:
        return self.messages[-1] if self.messages else None

    def since(self, t_s: float) -> list[Any]:
        """The messages that arrived at or after ``t_s`` (``time.monotonic``)."""
        return [m for m, t in zip(self.messages, self.arrivals_s, strict=True) if t >= t_s]

    def clear(self) -> None:
        self.messages.clear()
        self.arrivals_s.clear()

    def wait(self, executor: SingleThreadedExecutor, count: int = 1, timeout_s: float = 10.0) -> bool:
        """Spin until ``count`` messages have arrived in all."""
        return spin_until(executor, lambda: len(self.messages) >= count, timeout_s)


def ros_param(value: Any) -> str:
    """``value`` as a ``-p name:=value`` argument: floats keep a decimal point (a double
    parameter refuses ``100``), strings are quoted (so ``"{a: 1}"`` stays a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(ros_param(v) for v in value) + "]"
    raise TypeError(f"no ROS parameter syntax for {value!r}")


def start_node(
    module: str,
    params: Mapping[str, Any] | None = None,
    ros_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """``python -m module --ros-args -p k:=v ... ros_args`` in the repository root, with this
    process's environment (its ``ROS_DOMAIN_ID``) plus ``env``; stdout and stderr merged into a
    pipe (read by :func:`stop_process`)."""
    command = [sys.executable, "-m", module, "--ros-args"]
    for name, value in (params or {}).items():
        command += ["-p", f"{name}:={ros_param(value)}"]
    command += list(ros_args)
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop_process(
    process: subprocess.Popen[str], sig: int | None = signal.SIGINT, timeout_s: float = 10.0
) -> tuple[int, str]:
    """Send ``sig`` if it is still running (``None``: send nothing, let it exit by itself), wait
    up to ``timeout_s`` (then kill), and return the exit code and everything it printed. Safe to
    call twice: the output is kept."""
    if sig is not None and process.poll() is None:
        process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return int(process.returncode), output or ""


def robot_variant(tmp_path: Path, robot: str, ros: Mapping[str, Any]) -> Path:
    """A shipped robot's YAML with its ``ros`` section updated by ``ros``, the URDF named by
    absolute path, written to ``tmp_path``."""
    data = yaml.safe_load(robots.robot_yaml(robot).read_text())
    data["urdf"] = str(robots.ROBOTS_DIR / data["urdf"])
    data["ros"] = {**data["ros"], **ros}
    path = tmp_path / f"{robot}_variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
