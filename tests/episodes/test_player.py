"""player_node over real ROS 2: a recorded bag is republished in order, on time, with /clock; a ROS 1 bag as ROS 2."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState

from episodes.errors import EpisodeWarning
from episodes.player import BagPlayback, PlaybackClock
from episodes.recording import EpisodeRecorder
from hardware import RobotSpec
from hardware.state import RobotState
from robots import robot_yaml
from tests.ros.ros_helpers import Collector, ros_context, spin_until, start_node, stop_process

TURTLEBOT_BAG = Path(__file__).resolve().parents[3] / "shared" / "data" / "bags" / "turtlebot3_sim.bag"
needs_turtlebot = pytest.mark.skipif(
    not TURTLEBOT_BAG.exists(), reason=f"shared test bag {TURTLEBOT_BAG} is absent (see shared/data/README.md)"
)
STATES = 25
PERIOD_NS = 40_000_000  # 25 Hz: the bag spans 0.96 s


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 UR5e joint states 40 ms apart, position[0] = index, in an episode."""
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    path = tmp_path_factory.mktemp("player") / "bag"
    with EpisodeRecorder(path, spec, time_origin_ns=1_700_000_000_000_000_000) as rec:
        rec.start_episode(0)
        for i in range(STATES):
            position = np.full(spec.dof, float(i))
            rec.write_state(RobotState(stamp_ns=i * PERIOD_NS, position=position, velocity=np.zeros(spec.dof)))
        rec.end_episode((STATES - 1) * PERIOD_NS, "success")
    return path


def test_playback_clock_scales_bag_time() -> None:
    timing = PlaybackClock(first_ns=5_000_000_000, wall_start_s=100.0, rate=2.0)
    assert timing.due_s(7_000_000_000) == pytest.approx(101.0)
    assert timing.bag_time_ns(100.5) == 6_000_000_000
    with pytest.raises(ValueError, match="rate"):
        PlaybackClock(0, 0.0, 0.0)


def play(bag: Path, topic: str, msg_type: type, count: int, **params: object) -> tuple[Collector, Collector, str]:
    """Start player_node on ``bag``, collect ``count`` messages of ``topic`` (and /clock); its exit output."""
    with ros_context("player_test") as (_, node, executor):
        collector = Collector(node, msg_type, topic)
        clock = Collector(node, Clock, "/clock")
        # The player waits for discovery (our subscriptions matching its publishers), then a bit more.
        waits = {"wait_for_subscriber_s": 10.0, "delay_s": 0.5}
        process = start_node("sim2real_ros.player_node", {"bag": str(bag), **waits, **params})
        try:
            assert collector.wait(executor, count, timeout_s=15.0), f"got {len(collector.messages)} of {count}"
            spin_until(executor, lambda: process.poll() is not None, 5.0)
        finally:
            code, output = stop_process(process)
    assert code == 0, output
    return collector, clock, output


@pytest.mark.parametrize("rate", [1.0, 2.0])
def test_recorded_bag_plays_in_order_at_rate(small_bag: Path, rate: float) -> None:
    collector, clock, output = play(small_bag, "/joint_states", JointState, STATES, rate=rate, clock=True)
    received = [int(m.position[0]) for m in collector.messages]
    assert received == list(range(STATES)), output  # every message, in order, none twice
    assert [m.header.stamp.nanosec for m in collector.messages[:3]] == [0, PERIOD_NS, 2 * PERIOD_NS]
    # Spacing: the span of the last 20 arrivals is 19 periods / rate (first ones may wait on discovery).
    span_s = collector.arrivals_s[-1] - collector.arrivals_s[-20]
    assert span_s == pytest.approx(19 * PERIOD_NS * 1e-9 / rate, abs=0.08)
    # /clock carries the bag's log time, and covers the played span.
    stamps = [m.clock.sec * 1_000_000_000 + m.clock.nanosec for m in clock.messages]
    assert stamps and stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] >= 18 * PERIOD_NS
    assert stamps[-1] // 1_000_000_000 == 1_700_000_000


@needs_turtlebot
def test_ros1_bag_plays_as_ros2_twist_and_odometry() -> None:
    playback = BagPlayback(TURTLEBOT_BAG, start_offset_s=2.0)
    assert playback.is_ros1 and playback.duration_s == pytest.approx(89.34, abs=0.01)
    first = next(playback.messages())
    assert first.t_ns >= playback.bag_start_ns + 2_000_000_000
    with ros_context("player_test") as (_, node, executor):
        twists = Collector(node, Twist, "/cmd_vel")
        odoms = Collector(node, Odometry, "/odom")
        process = start_node(
            "sim2real_ros.player_node",
            {"bag": str(TURTLEBOT_BAG), "start_offset_s": 2.0, "wait_for_subscriber_s": 10.0, "delay_s": 0.5},
        )
        try:
            # The first second of play: ~25 twists and ~30 odometry messages.
            spin_until(executor, lambda: len(twists.messages) >= 20 and len(odoms.messages) >= 20, 10.0)
        finally:
            code, output = stop_process(process)
    assert code == 130, output  # stopped by Ctrl-C mid-bag
    assert len(twists.messages) >= 20 and len(odoms.messages) >= 20
    # Odometry from 2 s into the bag on: ROS 1 time (secs, nsecs) became builtin_interfaces/Time.
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in odoms.messages]
    assert stamps == sorted(stamps) and stamps[0] >= playback.bag_start_ns * 1e-9 + 1.9
    assert odoms.messages[0].header.frame_id == "odom" and odoms.messages[0].child_frame_id
    q = odoms.messages[-1].pose.pose.orientation
    assert q.x**2 + q.y**2 + q.z**2 + q.w**2 == pytest.approx(1.0, abs=1e-3)
    assert any(abs(m.linear.x) > 0.0 or abs(m.angular.z) > 0.0 for m in twists.messages)


@needs_turtlebot
def test_mapping_limits_topics_and_unknown_types_warn(tmp_path: Path) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text("cmd_vel: /cmd_vel\nodom: /odom\n")
    playback = BagPlayback(TURTLEBOT_BAG, mapping=mapping, start_offset_s=80.0)
    assert playback.topics == {"/cmd_vel": "geometry_msgs/msg/Twist", "/odom": "nav_msgs/msg/Odometry"}
    assert {m.topic for m in playback.messages()} == {"/cmd_vel", "/odom"}
    with pytest.raises(ValueError, match="start_offset_s"):
        BagPlayback(TURTLEBOT_BAG, start_offset_s=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EpisodeWarning)
        BagPlayback(TURTLEBOT_BAG)  # every turtlebot type has a ROS 2 definition: no warning


def test_replay_launch_resolves_player_and_optional_policy(small_bag: Path) -> None:
    from sim2real_ros.launch_file import load_launch

    launch = Path(__file__).resolve().parents[2] / "launch" / "replay.launch.yaml"
    alone = load_launch(launch, {"bag": str(small_bag), "rate": "2.0", "clock": "true"})
    assert [node.label for node in alone.nodes] == ["player_node"]
    command = " ".join(alone.nodes[0].cmd)
    assert "sim2real_ros.player_node" in command and f"bag:={small_bag}" in command
    assert "rate:=2.0" in command and "clock:=true" in command
    both = load_launch(launch, {"bag": str(small_bag), "rate": "2.0", "policy": "true", "bundle": "b"})
    assert [node.label for node in both.nodes] == ["player_node", "policy_node"]
    policy = " ".join(both.nodes[1].cmd)
    assert "bundle:=b" in policy and "rate:=0.0" in policy  # the playback speed is not the control rate
