"""The policy node on the real ROS 2 graph: end to end through launch files, and the faults.

Every node runs in its own process (``sim2real launch``, or ``python -m`` for the fault tests)
and this test process listens as one more ROS 2 participant. The simulated robot is
``sim_node``, which speaks the real driver's topics, so nothing here is mocked.

End to end: trained bundles (``tests/ros/bundles.py``) must bring the arm to its target and the
base to its goal. Faults use untrained bundles (random but well-formed actions).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped, TwistStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from nav_msgs.msg import Odometry
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from hardware import RobotSpec, RobotState
from policies.bundle import load_bundle
from robots import robot_yaml
from sim2real_ros.qos import COMMAND, LATCHED
from tests.ros.bundles import NAVIGATE_CONFIG, REACH_CONFIG, trained_bundle, untrained_bundle
from tests.ros.ros_helpers import ROOT, Collector, ros_context, spin_for, spin_until, start_node, stop_process

UR5E = RobotSpec.from_yaml(robot_yaml("ur5e"))
BURGER = RobotSpec.from_yaml(robot_yaml("burger"))
ARM_COMMANDS = "/scaled_joint_trajectory_controller/joint_trajectory"


@pytest.fixture(scope="session")
def reach_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_bundle(tmp_path_factory, "reach", REACH_CONFIG)


@pytest.fixture(scope="session")
def navigate_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_bundle(tmp_path_factory, "navigate", NAVIGATE_CONFIG)


@pytest.fixture(scope="module")
def random_reach_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_bundle(tmp_path_factory.mktemp("random_reach"), "ArmReach")


def launch(*arguments: str) -> subprocess.Popen[str]:
    """``sim2real launch ...`` in its own process, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim2real", "launch", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def positions(msg: JointTrajectory) -> np.ndarray:
    return np.array(msg.points[0].positions)


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.xdist_group("reach")
def test_sim_arm_launch_brings_the_arm_to_its_target(reach_bundle: Path) -> None:
    task = load_bundle(reach_bundle, UR5E).make_task(UR5E)
    goal = task.home_ee + np.array([0.08, -0.1, 0.06])
    graph = launch("sim_arm", f"bundle:={reach_bundle}")  # the goal comes over the goal topic
    try:
        with ros_context() as (_, node, executor):
            states = Collector(node, JointState, "/joint_states")
            commands = Collector(node, JointTrajectory, ARM_COMMANDS, COMMAND)
            actions = Collector(node, Float64MultiArray, "/policy_node/action")
            goal_pub = node.create_publisher(PointStamped, "/goal", COMMAND)

            def distance() -> float:
                msg = states.last
                q = np.array([msg.position[list(msg.name).index(n)] for n in UR5E.joint_names])
                return float(np.linalg.norm(task.end_effector(RobotState(0, q)) - goal))

            assert states.wait(executor, 1, timeout_s=30), "the simulated arm never published joint states"
            start = distance()
            assert start > 0.1
            target = PointStamped()
            target.point.x, target.point.y, target.point.z = goal.tolist()
            # Publish until the policy node (still starting up) hears it and commands.
            assert spin_until(executor, lambda: bool(goal_pub.publish(target) or commands.messages), timeout_s=30)
            assert spin_until(executor, lambda: distance() < 0.05, timeout_s=20), (
                f"end effector still {distance():.3f} m from the target (started {start:.3f} m)"
            )
            # Through ROS: the trajectory controller's topic carried the commands, one per period.
            assert len(commands.messages) >= 3 and len(actions.messages) >= 3
            names = {name for name, _ in node.get_node_names_and_namespaces()}
            assert {"sim_node", "policy_node"} <= names
    finally:
        code, output = stop_process(graph)
    # Every node in its own process, output prefixed with its name; Ctrl-C ends the graph.
    assert "[sim_node]" in output and "[policy_node]" in output, output[-2000:]
    assert code == 130, output[-2000:]


@pytest.mark.xdist_group("navigate")
def test_sim_base_launch_drives_the_base_to_its_goal_over_cmd_vel(navigate_bundle: Path) -> None:
    goal = np.array([0.6, 0.0])  # the other cell of the 1 x 2 maze, in the odometry frame
    graph = launch("sim_base", f"bundle:={navigate_bundle}", f"goal:={goal.tolist()}")
    try:
        with ros_context() as (_, node, executor):
            odometry = Collector(node, Odometry, "/odom")
            cmd_vel = Collector(node, TwistStamped, "/cmd_vel", COMMAND)

            def distance() -> float:
                if not odometry.messages:
                    return np.inf
                p = odometry.last.pose.pose.position
                return float(np.hypot(p.x - goal[0], p.y - goal[1]))

            assert odometry.wait(executor, 1, timeout_s=30), "the simulated base never published odometry"
            assert spin_until(executor, lambda: distance() < 0.15, timeout_s=40), (
                f"base still {distance():.2f} m from its goal"
            )
            # The only way the simulated base moves is cmd_vel; the policy node keeps publishing there.
            assert cmd_vel.wait(executor, 5, timeout_s=10), "nothing seen on cmd_vel"
    finally:
        code, output = stop_process(graph)
    assert code == 130, output[-2000:]


def test_a_namespace_moves_every_topic_of_the_graph(random_reach_bundle: Path) -> None:
    graph = launch("sim_arm", f"bundle:={random_reach_bundle}", "namespace:=robot1", "goal:=[0.5, 0.1, 0.4]")
    try:
        with ros_context() as (_, node, executor):
            states = Collector(node, JointState, "/robot1/joint_states")
            commands = Collector(node, JointTrajectory, "/robot1" + ARM_COMMANDS, COMMAND)
            diagnostics = Collector(node, DiagnosticArray, "/diagnostics", COMMAND)
            heard = spin_until(
                executor, lambda: bool(states.messages and commands.messages and diagnostics.messages), 30
            )
            assert heard, f"{len(states.messages)} states, {len(commands.messages)} commands"
            assert diagnostics.last.status[0].name == "/robot1/policy_node"
            assert node.count_publishers("/joint_states") == 0
    finally:
        code, output = stop_process(graph)
    assert code == 130, output[-2000:]


# --- faults -------------------------------------------------------------------------------------


def test_policy_node_holds_within_two_periods_when_joint_states_stop(random_reach_bundle: Path, tmp_path: Path) -> None:
    sim = start_node("sim2real_ros.sim_node", {"robot": "ur5e", "rate_hz": 100.0})
    stats = tmp_path / "ticks.npz"
    policy = start_node(
        "sim2real_ros.policy_node",
        {"bundle": str(random_reach_bundle), "autostart": True, "goal": [0.5, 0.1, 0.4], "stats_file": str(stats)},
    )
    try:
        with ros_context() as (_, node, executor):
            commands = Collector(node, JointTrajectory, ARM_COMMANDS, COMMAND)
            assert commands.wait(executor, 10, timeout_s=30), "no commands from the policy node"
            sim.send_signal(signal.SIGKILL)  # the driver dies: no more joint states
            sim.wait()
            killed = time.monotonic()
            spin_for(executor, 1.0)
            # What was published: the hold repeats the last target exactly (the random policy never does).
            after = [positions(m) for m in commands.since(killed + 2 * UR5E.control_period_s + 0.1)]
            assert len(after) >= 5 and all(np.array_equal(p, after[0]) for p in after), "not holding"
        code, output = stop_process(policy)
        assert code == 0, output
    finally:
        stop_process(policy)
        stop_process(sim)
    # When: the node's own steady-clock record of every tick (arrival of the state it used, and
    # whether it held), so the test process's scheduling does not enter the measurement.
    ticks = np.load(stats)
    last_state = int(ticks["arrival_ns"].max())
    start, held = ticks["start_ns"][ticks["start_ns"] > last_state], ticks["held"][ticks["start_ns"] > last_state]
    first_hold = int(np.argmax(held))
    assert held[first_hold] and held[first_hold:].all(), f"ticks after the last state held: {held.tolist()}"
    delay = (int(start[first_hold]) - last_state) * 1e-9
    assert delay <= 2 * UR5E.control_period_s + 0.03, f"held {delay * 1e3:.0f} ms after the last state"


@pytest.mark.xdist_group("navigate")
def test_killing_the_policy_node_stops_the_base_within_the_command_timeout(navigate_bundle: Path) -> None:
    timeout_s = 0.5
    sim = start_node(
        "sim2real_ros.sim_node",
        {"robot": "burger", "bundle": str(navigate_bundle), "cmd_vel_timeout_s": timeout_s, "rate_hz": 50.0},
    )
    policy = start_node(
        "sim2real_ros.policy_node", {"bundle": str(navigate_bundle), "autostart": True, "goal": [0.6, 0.0]}
    )
    try:
        with ros_context() as (_, node, executor):
            odometry = Collector(node, Odometry, "/odom")
            cmd_vel = Collector(node, TwistStamped, "/cmd_vel", COMMAND)

            def speed() -> float:
                return abs(odometry.last.twist.twist.linear.x) if odometry.messages else 0.0

            # Moving, and this process hears the policy node's cmd_vel (discovery can lag under load).
            moving = spin_until(executor, lambda: speed() > 0.05 and len(cmd_vel.messages) >= 5, timeout_s=30)
            assert moving, f"speed {speed():.3f} m/s, {len(cmd_vel.messages)} cmd_vel messages"
            policy.send_signal(signal.SIGKILL)  # no hold command on the way out
            policy.wait()
            spin_for(executor, timeout_s + 1.0)
            last_command = cmd_vel.arrivals_s[-1]
            speeds = [
                (t, abs(m.twist.twist.linear.x)) for t, m in zip(odometry.arrivals_s, odometry.messages, strict=True)
            ]
            after = [(t, v) for t, v in speeds if t > last_command]
            # The base keeps the last command until the timeout (as diff_drive_controller does)...
            assert any(v > 0.01 for t, v in after if t < last_command + 0.8 * timeout_s), (
                "it stopped before the timeout"
            )
            # ...and from then on it stands still.
            stop = next(i for i in range(len(after)) if all(v < 0.005 for _, v in after[i:]))
            delay = after[stop][0] - last_command
            assert delay <= timeout_s + 0.15, f"stopped {delay:.2f} s after the last cmd_vel"
    finally:
        stop_process(policy)
        stop_process(sim)


def test_estop_latches_and_only_holds_are_published_until_reset(random_reach_bundle: Path) -> None:
    sim = start_node("sim2real_ros.sim_node", {"robot": "ur5e", "rate_hz": 100.0})
    policy = start_node(
        "sim2real_ros.policy_node", {"bundle": str(random_reach_bundle), "autostart": True, "goal": [0.5, 0.1, 0.4]}
    )
    try:
        with ros_context() as (_, node, executor):
            commands = Collector(node, JointTrajectory, ARM_COMMANDS, COMMAND)
            estop = node.create_publisher(Bool, "/estop", LATCHED)
            service = node.create_client(SetBool, "/policy_node/estop")

            def reset() -> SetBool.Response:
                assert service.wait_for_service(timeout_sec=20)
                future = service.call_async(SetBool.Request(data=False))
                assert spin_until(executor, future.done, timeout_s=10)
                return future.result()

            def all_held(since: float) -> bool:
                sent = [positions(m) for m in commands.since(since)]
                return all(np.array_equal(p, sent[0]) for p in sent)

            assert commands.wait(executor, 5, timeout_s=30), "no commands from the policy node"
            pressed = time.monotonic()
            estop.publish(Bool(data=True))
            spin_for(executor, 0.5)
            # The hold (the last target, repeated) starts within a control period of the press.
            settled = pressed + UR5E.control_period_s + 0.05
            assert len(commands.since(settled)) >= 3 and all_held(settled), "a non-hold command while e-stopped"
            estop.publish(Bool(data=False))  # the button is released: the latch stays
            spin_for(executor, 0.5)
            assert all_held(settled), "the e-stop did not latch"
            estop.publish(Bool(data=True))
            spin_for(executor, 0.2)
            refused = reset()
            assert not refused.success and "release" in refused.message
            estop.publish(Bool(data=False))
            spin_for(executor, 0.2)
            assert all_held(settled)
            assert reset().success
            reset_at = time.monotonic()
            assert spin_until(executor, lambda: not all_held(reset_at), 5), "motion did not resume after the reset"
        code, output = stop_process(policy)
        assert code == 0, output
    finally:
        stop_process(policy)
        stop_process(sim)


def test_bundle_for_another_robot_fails_configure_naming_the_mismatch(random_reach_bundle: Path) -> None:
    policy = start_node(
        "sim2real_ros.policy_node", {"bundle": str(random_reach_bundle), "robot": "burger", "autostart": True}
    )
    output, _ = policy.communicate(timeout=60)  # it exits by itself
    assert policy.returncode == 1, output
    assert "configure failed" in output and "kind arm" in output and "'burger' has base" in output, output


def test_lifecycle_transitions_goal_topic_and_deactivate_hold(random_reach_bundle: Path, tmp_path: Path) -> None:
    sim = start_node("sim2real_ros.sim_node", {"robot": "ur5e", "rate_hz": 100.0})
    stats = tmp_path / "ticks.npz"
    policy = start_node("sim2real_ros.policy_node", {"bundle": str(random_reach_bundle), "stats_file": str(stats)})
    try:
        with ros_context() as (_, node, executor):
            commands = Collector(node, JointTrajectory, ARM_COMMANDS, COMMAND)
            change = node.create_client(ChangeState, "/policy_node/change_state")
            get_state = node.create_client(GetState, "/policy_node/get_state")

            def transition(transition_id: int) -> bool:
                assert change.wait_for_service(timeout_sec=20)
                future = change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
                assert spin_until(executor, future.done, timeout_s=20)
                return bool(future.result().success)

            assert transition(Transition.TRANSITION_CONFIGURE) and transition(Transition.TRANSITION_ACTIVATE)
            spin_for(executor, 0.5)
            assert not commands.messages, "commanded before it had a goal"
            goal = node.create_publisher(PointStamped, "/goal", COMMAND)
            msg = PointStamped()
            msg.point.x, msg.point.y, msg.point.z = 0.5, 0.1, 0.4
            assert spin_until(executor, lambda: (goal.publish(msg), commands.messages)[1] != [], timeout_s=10)
            assert commands.wait(executor, 10, timeout_s=10)
            assert transition(Transition.TRANSITION_DEACTIVATE)
            count = len(commands.messages)
            spin_for(executor, 0.5)
            assert len(commands.messages) == count, "commands after deactivate"
            # The last command is the hold: the previous target, repeated.
            np.testing.assert_array_equal(positions(commands.messages[-1]), positions(commands.messages[-2]))
            future = get_state.call_async(GetState.Request())
            assert spin_until(executor, future.done, timeout_s=10)
            assert future.result().current_state.label == "inactive"
        assert stats.is_file() and np.load(stats)["start_ns"].size >= 10
    finally:
        stop_process(policy)
        stop_process(sim)
