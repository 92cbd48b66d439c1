"""Part 5 of ``sim2real demo``: a trained bundle driving the simulated UR5e over ROS 2.

``launch/sim_arm.launch.yaml`` starts ``sim_node`` (MuJoCo speaking the UR driver's topics) and
``policy_node`` (the bundle, the task's observation code, the safety layer), each in its own
process. This process joins the graph as the operator: it sends end-effector targets on the
``goal`` topic one after the other, watches ``/joint_states``, and plots the distance to each
target over time (``ros_reach.png``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

#: Targets around the home end-effector position, m (base frame), inside ArmReach's goal cube.
GOAL_OFFSETS_M = ((0.1, -0.1, 0.05), (-0.08, 0.12, -0.05), (0.05, 0.05, 0.1))
REACHED_M = 0.05  # ArmReach's success radius
GOAL_S = 3.0  # each target is held this long (longer while not yet reached, up to GOAL_TIMEOUT_S)
GOAL_TIMEOUT_S = 20.0


def run_ros_demo(bundle: Path, out: Path) -> list[str]:
    """Launch the ``sim_arm`` graph with ``bundle``, reach three targets, plot; returns summary lines."""
    import rclpy
    from geometry_msgs.msg import PointStamped
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from hardware import RobotSpec, RobotState
    from policies.bundle import load_bundle
    from robots import robot_yaml
    from sim2real_ros.launch_file import load_launch
    from sim2real_ros.launch_runner import LaunchRunner
    from sim2real_ros.qos import COMMAND, STATE_SUBSCRIPTION

    # Keep the demo's ROS traffic on this machine (the nodes inherit it).
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    out.mkdir(parents=True, exist_ok=True)
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    task = load_bundle(bundle, spec).make_task(spec)
    launch_file = Path(__file__).resolve().parents[1] / "launch" / "sim_arm.launch.yaml"
    log = (out / "launch.log").open("w")
    description = load_launch(launch_file, {"bundle": str(bundle)})
    runner = LaunchRunner(description, on_line=lambda line: log.write(line + "\n"))
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("sim2real_demo", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    latest: list[JointState] = []  # the newest joint state, once one has arrived

    def keep(msg: JointState) -> None:
        latest[:] = [msg]

    node.create_subscription(JointState, "/joint_states", keep, STATE_SUBSCRIPTION)
    goal_pub = node.create_publisher(PointStamped, "/goal", COMMAND)
    traces: list[tuple[np.ndarray, np.ndarray]] = []  # per goal: times (s), distances (m)
    lines: list[str] = []
    try:
        runner.start()
        deadline = time.monotonic() + 30.0
        while not latest and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        if not latest:
            raise RuntimeError(f"no joint states from sim_node within 30 s; see {out / 'launch.log'}")
        for offset in GOAL_OFFSETS_M:
            goal = task.home_ee + np.array(offset)
            msg = PointStamped()
            msg.point.x, msg.point.y, msg.point.z = goal.tolist()
            times, distances = [], []
            start = time.monotonic()
            while time.monotonic() - start < GOAL_TIMEOUT_S:
                goal_pub.publish(msg)  # repeated: the policy node may still be discovering us
                executor.spin_once(timeout_sec=0.05)
                state = latest[0]
                q = np.array([state.position[list(state.name).index(n)] for n in spec.joint_names])
                distances.append(float(np.linalg.norm(task.end_effector(RobotState(0, q)) - goal)))
                times.append(time.monotonic() - start)
                reached_at = next((t for t, d in zip(times, distances, strict=True) if d < REACHED_M), None)
                if reached_at is not None and times[-1] > GOAL_S:
                    break
            traces.append((np.array(times), np.array(distances)))
            result = "NOT reached" if reached_at is None else f"reached in {reached_at:.1f} s"
            lines.append(
                f"  target {np.round(goal, 3).tolist()} m: {result}; {distances[-1] * 100:.1f} cm away after "
                f"{times[-1]:.1f} s"
            )
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        runner.shutdown()
        log.close()
    picture = plot_traces(traces, out / "ros_reach.png")
    lines.append(f"  sim_node and policy_node in their own processes; plot {picture}, node output {out / 'launch.log'}")
    return lines


def plot_traces(traces: list[tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Distance to each target over time, one line per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for index, (times, distances) in enumerate(traces):
        note = " (waits for policy_node to start)" if index == 0 else ""
        ax.plot(times, distances * 100, label=f"target {index + 1}{note}")
    ax.axhline(REACHED_M * 100, color="gray", linestyle="--", label="success radius")
    ax.set_xlabel("time since the goal was sent, s")
    ax.set_ylabel("end effector to target, cm")
    ax.set_title("policy_node driving the simulated UR5e over ROS 2")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
