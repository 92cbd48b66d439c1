"""``Ros2Robot`` over real ROS 2: joint order by name, base state, commands on the driver's topics.

The "driver" here is this test's own publishers and subscriptions in the same process (a
physical robot cannot exist here); the messages still go through rclpy and Fast DDS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry as OdometryMsg
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan as LaserScanMsg
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

import robots
from hardware import Command, CommandError, Odometry, Robot, RobotSpec
from hardware.state import LaserScan
from sim2real_ros.conversions import from_time, joint_state_msg, odometry_msg, scan_msg
from sim2real_ros.qos import COMMAND, STATE_PUBLISHER
from sim2real_ros.ros2_robot import RobotNotReadyError, Ros2Robot
from tests.ros.ros_helpers import Collector, robot_variant, ros_context, spin_until

UR5E = RobotSpec.from_yaml(robots.robot_yaml("ur5e"))
BURGER = RobotSpec.from_yaml(robots.robot_yaml("burger"))


def deliver(executor: Any, publisher: Any, msg: Any, arrived: Any) -> None:
    """Publish ``msg`` until ``arrived()`` (the subscription may not be matched yet)."""
    assert spin_until(executor, lambda: bool(publisher.publish(msg) or arrived()), 10.0)


def test_arm_state_is_mapped_by_joint_name_and_commands_reach_the_trajectory_controller() -> None:
    with ros_context() as (_, node, executor):
        clock = iter(range(10**9, 10**12, 10**6)).__next__  # a steady clock we control
        robot = Ros2Robot(UR5E, node, clock_ns=clock)
        assert isinstance(robot, Robot) and not robot.ready()
        with pytest.raises(RobotNotReadyError, match="/joint_states"):
            robot.read()
        states = node.create_publisher(JointState, "joint_states", STATE_PUBLISHER)
        # The driver's order, reversed, plus a gripper joint the robot does not have.
        names = [*reversed(UR5E.joint_names), "gripper_joint"]
        q = np.arange(1.0, 8.0) / 10
        deliver(executor, states, joint_state_msg(names, q, q * 2, q * 3, 0), robot.ready)
        state = robot.read()
        np.testing.assert_allclose(state.position, q[5::-1])
        np.testing.assert_allclose(state.velocity, 2 * q[5::-1])
        assert state.stamp_ns == robot.state_arrival_ns > 0  # arrival on our clock, not the header's

        # A message without a robot joint is dropped and said; the last good state stays.
        states.publish(joint_state_msg(["elbow_joint"], [9.0], [], [], 0))
        assert spin_until(executor, lambda: robot.last_message_error is not None, 5.0)
        assert "lacks joints" in str(robot.last_message_error)
        np.testing.assert_allclose(robot.read().position, q[5::-1])

        commands = Collector(node, JointTrajectory, "/scaled_joint_trajectory_controller/joint_trajectory", COMMAND)
        target = UR5E.home_position + 0.1
        assert spin_until(executor, lambda: bool(robot.write(Command.position(target)) and commands.messages), 10.0)
        msg = commands.last
        assert list(msg.joint_names) == list(UR5E.joint_names)
        np.testing.assert_allclose(msg.points[0].positions, target)
        assert from_time(msg.points[0].time_from_start) == round(UR5E.control_period_s * 1e9)
        with pytest.raises(CommandError):
            robot.write(Command.twist(0.1, 0.0))
        with pytest.raises(NotImplementedError, match="real robot"):
            robot.reset()
        robot.close()


def test_forward_controller_gets_values_in_spec_order(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(
        robot_variant(tmp_path, "ur5e", {"controller": "forward_position_controller", "command_type": "forward"})
    )
    with ros_context() as (_, node, executor):
        robot = Ros2Robot(spec, node)
        commands = Collector(node, Float64MultiArray, "/forward_position_controller/commands", COMMAND)
        target = np.linspace(-0.5, 0.5, 6)
        assert spin_until(executor, lambda: bool(robot.write(Command.position(target)) and commands.messages), 10.0)
        np.testing.assert_allclose(commands.last.data, target)


@pytest.mark.parametrize("stamped", [True, False])
def test_base_reads_odometry_and_scan_and_writes_cmd_vel(tmp_path: Path, stamped: bool) -> None:
    spec = RobotSpec.from_yaml(robot_variant(tmp_path, "burger", {"cmd_vel_stamped": stamped}))
    laser = spec.sensors.laser
    assert laser is not None
    now = [5 * 10**9]
    with ros_context() as (_, node, executor):
        robot = Ros2Robot(spec, node, clock_ns=lambda: now[0])
        odom = node.create_publisher(OdometryMsg, "odom", STATE_PUBLISHER)
        scan = node.create_publisher(LaserScanMsg, "scan", STATE_PUBLISHER)
        pose = Odometry(x_m=0.4, y_m=-0.2, yaw_rad=2.5, linear_x_mps=0.1, angular_z_radps=-0.3)
        deliver(executor, odom, odometry_msg(pose, 0), lambda: robot.waiting_for == [spec.ros.scan])
        assert not robot.ready()
        ranges = np.full(laser.num_beams, 1.5)
        ranges[:10] = 99.0  # beyond range_max: "no return"
        deliver(executor, scan, scan_msg(LaserScan(0, ranges), laser, 0, "base_scan"), robot.ready)
        state = robot.read()
        assert state.odometry is not None
        assert (state.odometry.x_m, state.odometry.y_m) == pytest.approx((0.4, -0.2))
        assert state.odometry.yaw_rad == pytest.approx(2.5)
        assert state.odometry.angular_z_radps == pytest.approx(-0.3)
        assert state.scan is not None and np.isinf(state.scan.ranges_m[:10]).all()
        np.testing.assert_allclose(state.scan.ranges_m[10:], 1.5, rtol=1e-6)
        # Odometry keeps arriving but the laser died: the state ages with the scan.
        scan_period_ns = round(1e9 / laser.rate_hz)
        now[0] += 5 * scan_period_ns
        deliver(executor, odom, odometry_msg(pose, 0), lambda: robot.state_arrival_ns == now[0])
        assert robot.read().stamp_ns == state.scan.stamp_ns + 2 * scan_period_ns
        # A scan of the wrong size is refused.
        scan.publish(scan_msg(LaserScan(0, np.ones(10)), laser, 0, "base_scan"))
        assert spin_until(executor, lambda: robot.last_message_error is not None, 5.0)
        assert "10 beams" in str(robot.last_message_error)

        msg_type = TwistStamped if stamped else Twist
        cmd_vel = Collector(node, msg_type, "/cmd_vel", COMMAND)
        assert spin_until(executor, lambda: bool(robot.write(Command.twist(0.2, -0.5)) and cmd_vel.messages), 10.0)
        twist = cmd_vel.last.twist if stamped else cmd_vel.last
        assert (twist.linear.x, twist.angular.z) == pytest.approx((0.2, -0.5))
