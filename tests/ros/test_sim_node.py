"""``sim_node`` over real ROS 2: the node runs in a subprocess, this process talks to it on the
test's own ROS domain, as a policy node would."""

from __future__ import annotations

import math
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, LaserScan
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

import robots
from hardware.spec import RobotSpec
from sim2real_ros.conversions import array_msg, from_time, trajectory_msg, twist_msg
from sim2real_ros.qos import COMMAND
from tests.ros.ros_helpers import (
    Collector,
    robot_variant,
    ros_context,
    spin_for,
    spin_until,
    start_node,
    stop_process,
)

MODULE = "sim2real_ros.sim_node"
UR5E = RobotSpec.from_yaml(robots.robot_yaml("ur5e"))
START_TIMEOUT_S = 20.0  # a cold start under a loaded test run; normally about 1 s


@pytest.fixture
def launch() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts ``sim_node`` with parameters (and ``ros_args``); every node is stopped afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(ros_args: tuple[str, ...] = (), **params: Any) -> subprocess.Popen[str]:
        process = start_node(MODULE, params, ros_args)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process, signal.SIGKILL)


def wait_for(executor: Any, collector: Collector, process: subprocess.Popen[str]) -> None:
    if not collector.wait(executor, 1, START_TIMEOUT_S):
        code, output = stop_process(process)
        pytest.fail(f"no message on {collector.topic} (node exit code {code}):\n{output}")


def connect(executor: Any, publisher: Any) -> None:
    assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10.0), publisher.topic_name


def fraction_along(q: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """How far ``q`` is from ``start`` towards ``end`` (0 to 1)."""
    d = end - start
    return float(np.dot(q - start, d) / np.dot(d, d))


# --- arms ------------------------------------------------------------------------------------


def test_arm_publishes_at_its_rate_in_spec_order_and_follows_a_trajectory(launch: Callable[..., Any]) -> None:
    process = launch(robot="ur5e", rate_hz=100.0)
    start, target = UR5E.home_position.copy(), UR5E.home_position + np.array([0.5, 0.3, -0.3, 0.0, 0.0, 0.0])
    with ros_context() as (_, node, executor):
        states = Collector(node, JointState, "/joint_states")
        wait_for(executor, states, process)
        states.clear()
        spin_for(executor, 1.0)
        stamps = np.array([from_time(m.header.stamp) for m in states.messages]) * 1e-9
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        assert rate == pytest.approx(100.0, rel=0.15)
        assert all(tuple(m.name) == UR5E.joint_names for m in states.messages)
        np.testing.assert_allclose(states.last.position, start, atol=0.01)

        commands = node.create_publisher(
            JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory", COMMAND
        )
        connect(executor, commands)
        # Joint names reversed: the driver matches them by name.
        commands.publish(trajectory_msg(UR5E.joint_names[::-1], target[::-1], time_from_start_s=1.0))
        sent = time.monotonic()
        spin_until(executor, lambda: time.monotonic() >= sent + 0.5, 2.0)
        halfway = fraction_along(np.array(states.last.position), start, target)
        assert halfway == pytest.approx(0.5, abs=0.12)
        spin_until(executor, lambda: time.monotonic() >= sent + 1.6, 3.0)
        np.testing.assert_allclose(states.last.position, target, atol=0.01)

        bad = trajectory_msg([*UR5E.joint_names[:5], "gripper"], target, time_from_start_s=1.0)
        commands.publish(bad)
        spin_for(executor, 0.3)
        assert process.poll() is None  # still running
        np.testing.assert_allclose(states.last.position, target, atol=0.01)  # and holding
    code, output = stop_process(process, signal.SIGINT)
    assert code == 0, output
    assert "/scaled_joint_trajectory_controller/joint_trajectory: trajectory joints" in output
    assert "unknown: ['gripper']; missing: ['wrist_3_joint']; command ignored" in output


def test_forward_command_in_a_namespace_with_noise_and_reset(launch: Callable[..., Any], tmp_path: Path) -> None:
    forward = {"controller": "forward_position_controller", "command_type": "forward"}
    yaml_path = robot_variant(tmp_path, "ur5e", forward)
    noise = 0.01
    process = launch(robot=str(yaml_path), position_noise_std=noise, ros_args=("-r", "__ns:=/arm1"))
    target = UR5E.home_position + np.array([-0.4, 0.3, 0.0, 0.0, 0.3, 0.0])
    with ros_context() as (_, node, executor):
        states = Collector(node, JointState, "/arm1/joint_states")
        wait_for(executor, states, process)
        states.clear()
        spin_for(executor, 0.6)
        at_rest = np.array([m.position for m in states.messages])
        assert len(at_rest) > 30
        assert at_rest.std(axis=0).mean() == pytest.approx(noise, rel=0.3)

        commands = node.create_publisher(type(array_msg([])), "/arm1/forward_position_controller/commands", COMMAND)
        connect(executor, commands)
        commands.publish(array_msg(target))
        spin_for(executor, 1.0)
        recent = np.array([m.position for m in states.messages[-20:]]).mean(axis=0)
        np.testing.assert_allclose(recent, target, atol=0.02)
        commands.publish(array_msg(target[:5]))  # wrong size: ignored

        reset = node.create_client(Trigger, "/arm1/sim_node/reset")
        assert reset.wait_for_service(timeout_sec=5.0)
        future = reset.call_async(Trigger.Request())
        assert spin_until(executor, future.done, 5.0) and future.result().success
        states.clear()
        spin_for(executor, 0.3)
        recent = np.array([m.position for m in states.messages[-20:]]).mean(axis=0)
        np.testing.assert_allclose(recent, UR5E.home_position, atol=0.02)
    code, output = stop_process(process, signal.SIGINT)
    assert code == 0, output
    assert "/arm1/forward_position_controller/commands: command has 5 values, expected 6" in output


def test_a_rate_off_the_physics_grid_exits_with_one_line(launch: Callable[..., Any]) -> None:
    process = launch(robot="burger", rate_hz=30.0)
    code, output = stop_process(process, None, timeout_s=START_TIMEOUT_S)  # it exits by itself
    assert code == 2
    assert "rate_hz 30: its period 33.3333 ms is not a multiple of the physics timestep 2 ms" in output
    assert "Traceback" not in output


# --- bases -----------------------------------------------------------------------------------


def test_base_in_a_maze_drives_on_cmd_vel_stops_after_the_timeout_and_scans_walls(launch: Callable[..., Any]) -> None:
    laser = RobotSpec.from_yaml(robots.robot_yaml("burger")).sensors.laser
    assert laser is not None
    # Maze 0's cell (0, 0) is open towards +y only: face +y, walls left, right and behind.
    process = launch(robot="burger", task="BaseNavigate", task_kwargs="{maze_seed: 0}", initial_pose=[0.0, 0.0, 1.5708])
    with ros_context() as (_, node, executor):
        odom = Collector(node, Odometry, "/odom")
        scans = Collector(node, LaserScan, "/scan")
        wheels = Collector(node, JointState, "/joint_states")
        for collector in (scans, odom, wheels):  # discovery of each topic can lag under load
            wait_for(executor, collector, process)
        scan = scans.last
        assert len(scan.ranges) == laser.num_beams and scan.header.frame_id == laser.link
        ranges = np.array(scan.ranges)
        assert 0.15 < ranges[90] < 0.4 and 0.15 < ranges[180] < 0.4 and 0.15 < ranges[270] < 0.4  # walls
        assert ranges[0] > 1.0  # the corridor ahead
        assert odom.last.header.frame_id == "odom" and odom.last.child_frame_id == "base_link"
        assert tuple(wheels.last.name) == ("wheel_left_joint", "wheel_right_joint")

        cmd_vel = node.create_publisher(TwistStamped, "/cmd_vel", COMMAND)
        connect(executor, cmd_vel)
        for _ in range(16):  # 0.8 s at 20 Hz
            cmd_vel.publish(twist_msg([0.15, 0.0, 0.0], stamped=True))
            spin_for(executor, 0.05)
        stopped = time.monotonic()
        assert odom.last.twist.twist.linear.x == pytest.approx(0.15, abs=0.03)
        assert odom.last.pose.pose.position.x > 0.07  # forward in the odometry frame
        assert abs(odom.last.pose.pose.position.y) < 0.02
        spin_until(executor, lambda: time.monotonic() >= stopped + 0.3, 1.0)
        assert odom.last.twist.twist.linear.x > 0.1  # the last command still holds
        spin_until(executor, lambda: time.monotonic() >= stopped + 0.5 + 0.3, 1.0)
        assert abs(odom.last.twist.twist.linear.x) < 0.01  # timed out: zero twist
        assert 3 <= len(scans.messages) <= 12  # 5 Hz over about 1.6 s
    code, output = stop_process(process, signal.SIGTERM)
    assert code == 0, output


def test_base_with_plain_twist_in_pybullet_publishes_clock_and_odometry_noise(
    launch: Callable[..., Any], tmp_path: Path
) -> None:
    yaml_path = robot_variant(tmp_path, "burger", {"cmd_vel_stamped": False})
    noise = 0.01
    process = launch(robot=str(yaml_path), backend="pybullet", odometry_noise_std=noise, publish_clock=True)
    with ros_context() as (_, node, executor):
        odom = Collector(node, Odometry, "/odom")
        clock = Collector(node, Clock, "/clock")
        scans = Collector(node, LaserScan, "/scan")
        for collector in (odom, scans, clock):  # discovery of each topic can lag under load
            wait_for(executor, collector, process)
        odom.clear()
        spin_for(executor, 0.6)
        x = np.array([m.pose.pose.position.x for m in odom.messages])
        assert len(x) > 15 and x.std() == pytest.approx(noise, rel=0.35)
        assert np.all(np.isinf(scans.last.ranges))  # no world around it: no returns
        # Stamped with simulation time, which /clock carries (seconds since start, not 1970).
        # The two topics race to this process: compare the stamps up to the latest clock heard.
        clock_times = {from_time(m.clock) for m in clock.messages}
        stamps = [from_time(m.header.stamp) for m in odom.messages if from_time(m.header.stamp) <= max(clock_times)]
        assert len(stamps) > 10 and set(stamps) <= clock_times
        assert from_time(odom.last.header.stamp) < 60e9

        cmd_vel = node.create_publisher(Twist, "/cmd_vel", COMMAND)
        connect(executor, cmd_vel)
        for _ in range(12):
            cmd_vel.publish(twist_msg([0.2, 0.0, 0.0], stamped=False))
            spin_for(executor, 0.05)
        recent = np.array([m.pose.pose.position.x for m in odom.messages[-10:]]).mean()
        assert recent > 0.06
        assert not math.isnan(recent)
    code, output = stop_process(process, signal.SIGINT)
    assert code == 0, output
    assert "subscribes /cmd_vel (Twist)" in output
