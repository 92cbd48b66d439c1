"""Reading: a foreign ROS 1 bag through a topic mapping, bag_info, and faults (one line, never a traceback)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.store import Typestore

from episodes.errors import (
    BagFormatError,
    BagNotFoundError,
    EpisodeWarning,
    MappingError,
    MissingTopicError,
    UnknownMessageTypeError,
)
from episodes.info import bag_info
from episodes.reading import read_episodes
from episodes.recording import EpisodeRecorder, ros2_typestore
from episodes.topics import TopicMapping
from hardware import RobotSpec
from hardware.state import LaserScan, Odometry, RobotState
from robots import robot_yaml

ROOT = Path(__file__).parents[2]
TURTLEBOT_BAG = Path(__file__).parents[3] / "shared" / "data" / "bags" / "turtlebot3_sim.bag"
BURGER = RobotSpec.from_yaml(robot_yaml("burger"))
TB3_MAPPING = {"joint_states": "/joint_states", "cmd_vel": "/cmd_vel", "odom": "/odom", "scan": "/scan"}
needs_turtlebot = pytest.mark.skipif(
    not TURTLEBOT_BAG.exists(), reason=f"shared test bag {TURTLEBOT_BAG} is absent (see shared/data/README.md)"
)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim2real", "episodes", "info", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim2real: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def burger_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recorded burger bag of 2 episodes x 40 steps (synthetic states: reading is under test here)."""
    path = tmp_path_factory.mktemp("bags") / "burger"
    beams = BURGER.sensors.laser.num_beams  # type: ignore[union-attr]
    with EpisodeRecorder(path, BURGER, time_origin_ns=10**18) as rec:
        for episode in range(2):
            rec.start_episode(0)
            for k in range(40):
                t = k * 50_000_000
                scan = LaserScan(stamp_ns=t - t % 200_000_000, ranges_m=np.full(beams, 1.0 + episode))
                odo = Odometry(x_m=0.01 * k, y_m=0.0, yaw_rad=0.02 * k, linear_x_mps=0.2)
                rec.write_state(RobotState(stamp_ns=t, position=[0.1 * k, 0.2 * k], odometry=odo, scan=scan))
            rec.end_episode(40 * 50_000_000, "success")
    return path


def header(typestore: Typestore, sec: int, nanosec: int = 0) -> object:
    """A ``std_msgs/Header`` stamped ``sec`` s + ``nanosec`` ns."""
    stamp = typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return typestore.types["std_msgs/msg/Header"](stamp=stamp, frame_id="")


def joint_state_cdr(typestore: Typestore, stamp: object, names: list[str], position: Any, velocity: Any,
                    effort: Any) -> bytes:  # fmt: skip
    """A ``sensor_msgs/JointState`` serialized as a bag holds it."""
    msg = typestore.types["sensor_msgs/msg/JointState"](
        header=stamp, name=names, position=np.asarray(position, dtype=np.float64),
        velocity=np.asarray(velocity, dtype=np.float64), effort=np.asarray(effort, dtype=np.float64),
    )  # fmt: skip
    return bytes(typestore.serialize_cdr(msg, "sensor_msgs/msg/JointState"))


def damaged_copy(bag: Path, dest: Path, damage: str) -> Path:
    """A copy of ``bag`` whose MCAP is cut in half (``truncate``) or has a joint-state name length flipped."""
    dest.mkdir()
    (mcap,) = bag.glob("*.mcap")
    data = bytearray(mcap.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        # Flip the CDR length of a joint name in the middle of the chunk: that message can no
        # longer be decoded (rosbags writes MCAP without CRCs, so only decoding can notice).
        names = [i for i in range(len(data)) if data.startswith(b"wheel_left_joint", i)]
        at = names[len(names) // 2] - 4
        data[at : at + 4] = bytes(b ^ 0xFF for b in data[at : at + 4])
    for f in bag.iterdir():
        (dest / f.name).write_bytes(bytes(data) if f == mcap else f.read_bytes())
    return dest


@needs_turtlebot
def test_turtlebot_bag_imports_as_a_burger_episode() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 360 beams = burger.yaml's laser: nothing may be skipped
        (episode,) = read_episodes(TURTLEBOT_BAG, BURGER, TopicMapping.from_dict(TB3_MAPPING))
    assert episode.index == 0 and episode.outcome is None
    assert episode.duration_s == pytest.approx(91.34, abs=0.05)
    assert (len(episode.states), len(episode.commands), len(episode.odometry), len(episode.scans)) == (
        2741,
        2335,
        2741,
        457,
    )
    # The bag lists [wheel_right_joint, wheel_left_joint]: matched by name into spec order.
    assert BURGER.joint_names == ("wheel_left_joint", "wheel_right_joint")
    np.testing.assert_allclose(episode.positions[0], [9.00880971, -4.23206781], atol=1e-7)
    # Twist on the wire, [vx, vy, wz] here; this teleop drove at up to 0.5 m/s, past the burger's
    # 0.22 m/s (what is logged is kept as is: a replay's safety layer clips it).
    assert episode.commands.values.shape == (2335, 3) and np.abs(episode.commands.values[:, 0]).max() == 0.5
    assert np.all(episode.commands.values[:, 1] == 0) and np.abs(episode.commands.values[:, 2]).max() > 0
    assert episode.scans.values.shape == (457, 360)
    assert np.isinf(episode.scans.values).any() and np.nanmin(episode.scans.values) >= 0.12 - 1e-6
    assert np.all(np.abs(episode.odometry.values[:, 2]) <= np.pi)
    assert episode.states.stamp_ns[0] == pytest.approx(112.5e9, abs=0.5e9)  # sim time header stamps


@needs_turtlebot
def test_turtlebot_bag_info_reports_topics_rates_and_duration() -> None:
    info = bag_info(TURTLEBOT_BAG)
    assert info["duration_s"] == pytest.approx(91.34, abs=0.05)
    rates = {topic: t["rate_hz"] for topic, t in info["topics"].items()}
    readme = {"/cmd_vel": 25, "/odom": 30, "/joint_states": 30, "/scan": 5, "/imu": 25}
    assert set(rates) == set(readme)
    for topic, hz in readme.items():
        assert rates[topic] == pytest.approx(hz, rel=0.1), topic
    assert info["topics"]["/cmd_vel"]["max_gap_s"] > 1.0  # the teleop pauses show up as gaps
    assert info["topics"]["/imu"]["stream"] is None and info["topics"]["/cmd_vel"]["stream"] == "cmd_vel"
    assert len(info["episodes"]) == 1


@needs_turtlebot
def test_a_laser_with_another_beam_count_is_skipped_with_a_warning(tmp_path: Path) -> None:
    text = robot_yaml("burger").read_text().replace("num_beams: 360", "num_beams: 180")
    (tmp_path / "burger.yaml").write_text(text)
    (tmp_path / "burger.urdf").write_text(robot_yaml("burger").with_suffix(".urdf").read_text())
    spec = RobotSpec.from_yaml(tmp_path / "burger.yaml")
    with pytest.warns(EpisodeWarning, match=r"skipped 457 messages on /scan: 360 beams.*has 180"):
        (episode,) = read_episodes(TURTLEBOT_BAG, spec, TopicMapping.from_dict(TB3_MAPPING))
    assert len(episode.scans) == 0 and len(episode.states) == 2741


def test_mapping_yaml_loads_and_rejects_unknown_streams(tmp_path: Path) -> None:
    good = tmp_path / "tb3.yaml"
    good.write_text("joint_states: /joint_states\ncmd_vel: cmd_vel\nodom: /odom\n")
    mapping = TopicMapping.from_yaml(good)
    assert mapping.topics() == {"joint_states": "/joint_states", "odom": "/odom", "cmd_vel": "/cmd_vel"}
    assert mapping.required == {"joint_states", "odom", "cmd_vel"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("velocity: /cmd_vel\n")
    with pytest.raises(MappingError, match="unknown streams.*velocity"):
        TopicMapping.from_yaml(bad)
    with pytest.raises(MappingError, match="does not exist"):
        TopicMapping.from_yaml(tmp_path / "none.yaml")


def test_recorded_bag_info_and_cli(burger_bag: Path) -> None:
    info = bag_info(burger_bag)
    assert [(e["index"], e["outcome"]) for e in info["episodes"]] == [(0, "success"), (1, "success")]
    assert info["storage"] == "rosbag2 mcap" and info["custom_data"] == {"robot": "burger"}
    assert info["topics"]["/joint_states"]["rate_hz"] == pytest.approx(20.0, rel=0.05)
    result = cli(burger_bag)
    assert result.returncode == 0, result.stderr
    assert "/joint_states" in result.stdout and "episodes: 2" in result.stdout


def test_truncated_mcap_is_one_line_error(burger_bag: Path, tmp_path: Path) -> None:
    bag = damaged_copy(burger_bag, tmp_path / "cut", "truncate")
    with pytest.raises(BagFormatError, match="cut"):
        read_episodes(bag, BURGER)
    with pytest.raises(BagFormatError):
        bag_info(bag)
    assert_one_line_error(cli(bag), "cut", "truncated")


def test_corrupted_chunk_skips_the_message_with_a_warning(burger_bag: Path, tmp_path: Path) -> None:
    bag = damaged_copy(burger_bag, tmp_path / "flipped", "flip")
    with pytest.warns(EpisodeWarning, match="skipped 1 corrupt messages on /joint_states"):
        episodes = read_episodes(bag, BURGER)
    assert sum(len(e.states) for e in episodes) == 79 and len(episodes) == 2
    result = cli(bag)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "sim2real: warning: flipped: 1 corrupt messages on /joint_states skipped"
    ]


def test_missing_mapped_topic_is_one_line_error(burger_bag: Path, tmp_path: Path) -> None:
    mapping = TopicMapping.from_dict({"joint_states": "/joint_states", "scan": "/base_scan"})
    with pytest.raises(MissingTopicError, match="/base_scan"):
        read_episodes(burger_bag, BURGER, mapping)
    (tmp_path / "m.yaml").write_text("joint_states: /joint_states\nscan: /base_scan\n")
    assert_one_line_error(cli(burger_bag, "--mapping", tmp_path / "m.yaml"), "/base_scan", "mapping")


def test_unknown_message_type(tmp_path: Path) -> None:
    typestore = ros2_typestore()
    typestore.register(get_types_from_msg("float64 level\nstring label", "acme_msgs/msg/Widget"))
    widget = typestore.types["acme_msgs/msg/Widget"]
    bag = tmp_path / "acme"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        states = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=typestore)
        widgets = writer.add_connection("/cmd_vel", "acme_msgs/msg/Widget", typestore=typestore)
        for k in range(5):
            js = joint_state_cdr(typestore, header(typestore, k), ["wheel_right_joint", "wheel_left_joint"],
                                 [k, -k], [], [])  # fmt: skip
            writer.write(states, k * 10**9, js)
            writer.write(widgets, k * 10**9, typestore.serialize_cdr(widget(level=1.0, label="x"), widget.__msgtype__))
    # Unmapped, an unknown type is listed; as the default mapping's optional cmd_vel, it is skipped
    # with a warning. (A sqlite3 rosbag2 reads like an MCAP one.)
    widgets_info = bag_info(bag)["topics"]["/cmd_vel"]
    assert widgets_info["type"] == "acme_msgs/msg/Widget" and widgets_info["stream"] is None
    assert (widgets_info["count"], widgets_info["corrupt"], widgets_info["gaps"]) == (5, 0, [])
    assert widgets_info["rate_hz"] == pytest.approx(1.0)
    with pytest.warns(EpisodeWarning, match="/cmd_vel is acme_msgs/msg/Widget.*skipped"):
        (episode,) = read_episodes(bag, BURGER)
    np.testing.assert_array_equal(episode.positions[:, 0], -np.arange(5))  # wheel_left_joint, by name
    assert len(episode.commands) == 0
    # Mapped as cmd_vel, it is an error that names the topic and the type.
    mapping = TopicMapping.from_dict({"joint_states": "/joint_states", "cmd_vel": "/cmd_vel"})
    with pytest.raises(UnknownMessageTypeError, match="/cmd_vel is acme_msgs/msg/Widget"):
        read_episodes(bag, BURGER, mapping)
    (tmp_path / "m.yaml").write_text("cmd_vel: /cmd_vel\n")
    assert_one_line_error(cli(bag, "--mapping", tmp_path / "m.yaml"), "acme_msgs/msg/Widget", "/cmd_vel")


def test_missing_bag_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(BagNotFoundError):
        read_episodes(tmp_path / "nothing", BURGER)
    assert_one_line_error(cli(tmp_path / "nothing"), "does not exist")


def test_markers_cut_the_streams_where_they_were_read(tmp_path: Path) -> None:
    """Messages outside start/end are dropped; a start without its end runs to the next start or
    the end of the bag; a joint state missing a spec joint is skipped with a warning."""
    typestore = ros2_typestore()
    types = typestore.types
    bag = tmp_path / "cut"
    # (log time s, what): a float is a joint state with that wheel_left position
    script: list[tuple[int, float | str]] = [
        (0, 0.0), (1, "start 0"), (2, 2.0), (3, 3.0), (4, "end 0 success"), (5, 5.0),
        (6, "start 1"), (7, 7.0), (8, "start 2"), (9, 9.0), (10, "missing"), (11, 11.0),
    ]  # fmt: skip
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        states = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=typestore)
        markers = writer.add_connection("/sim2real/episode", "std_msgs/msg/String", typestore=typestore)
        for t, what in script:
            if isinstance(what, str) and what != "missing":
                writer.write(markers, t * 10**9, typestore.serialize_cdr(types["std_msgs/msg/String"](data=what),
                                                                         "std_msgs/msg/String"))  # fmt: skip
                continue
            names = ["wheel_left_joint"] if what == "missing" else ["wheel_left_joint", "wheel_right_joint"]
            position = np.full(len(names), 0.0 if what == "missing" else what)
            js = joint_state_cdr(typestore, header(typestore, t, 5), names, position, np.ones(len(names)),
                                 np.zeros(len(names)))  # fmt: skip
            writer.write(states, t * 10**9, js)
    with pytest.warns(EpisodeWarning, match=r"skipped 1 messages on /joint_states.*'wheel_right_joint'"):
        episodes = read_episodes(bag, BURGER)
    assert [(e.index, e.outcome) for e in episodes] == [(0, "success"), (1, None), (2, None)]
    assert [e.positions[:, 0].tolist() for e in episodes] == [[2.0, 3.0], [7.0], [9.0, 11.0]]
    assert [(e.start_ns, e.end_ns) for e in episodes] == [(1e9, 4e9), (6e9, 7e9), (8e9, 11e9)]
    np.testing.assert_array_equal(episodes[2].states.stamp_ns, [9 * 10**9 + 5, 11 * 10**9 + 5])
    np.testing.assert_array_equal(episodes[0].velocities, np.ones((2, 2)))


def test_a_ros_recording_reads_without_a_mapping(tmp_path: Path) -> None:
    """Topics as ``recorder_node robot:=ur5e`` records them: the trajectory controller's commands
    (joints by name, the last point) and the policy node's observation and action topics."""
    from episodes.offline import pair_by_time

    ur5e = RobotSpec.from_yaml(robot_yaml("ur5e"))
    typestore = ros2_typestore()
    types = typestore.types
    bag = tmp_path / "ros"
    reversed_joints = list(reversed(ur5e.joint_names))
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        states = writer.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=typestore)
        trajectory = writer.add_connection(
            ur5e.ros.arm_command_topic, "trajectory_msgs/msg/JointTrajectory", typestore=typestore
        )
        arrays = {
            topic: writer.add_connection(topic, "std_msgs/msg/Float64MultiArray", typestore=typestore)
            for topic in ("/policy_node/observation", "/policy_node/action")
        }

        def array(values: list[float]) -> bytes:
            layout = types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
            msg = types["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.array(values, dtype=np.float64))
            return typestore.serialize_cdr(msg, "std_msgs/msg/Float64MultiArray")

        for k in range(4):
            t = k * 10**9
            js = joint_state_cdr(typestore, header(typestore, k), list(ur5e.joint_names), np.full(6, 0.1 * k),
                                 np.zeros(6), np.zeros(6))  # fmt: skip
            writer.write(states, t, js)
            # The action can arrive before its observation: pairs are made by nearest time.
            writer.write(arrays["/policy_node/action"], t + 2_000_000, array([k, -k, 0.0]))
            writer.write(arrays["/policy_node/observation"], t + 3_000_000 * (k % 2), array([float(k)] * 21))
            names = reversed_joints[:-1] if k == 3 else reversed_joints  # the last lacks a joint
            point = types["trajectory_msgs/msg/JointTrajectoryPoint"](
                positions=np.arange(len(names), dtype=np.float64) + k, velocities=np.zeros(0),
                accelerations=np.zeros(0), effort=np.zeros(0),
                time_from_start=types["builtin_interfaces/msg/Duration"](sec=0, nanosec=100_000_000),
            )  # fmt: skip
            msg = types["trajectory_msgs/msg/JointTrajectory"](
                header=header(typestore, k), joint_names=names, points=[point]
            )
            writer.write(trajectory, t + 1_000_000, typestore.serialize_cdr(msg, "trajectory_msgs/msg/JointTrajectory"))
    with pytest.warns(
        EpisodeWarning, match=r"skipped 1 messages on /scaled_joint_trajectory_controller.*shoulder_pan_joint"
    ):
        (episode,) = read_episodes(bag, ur5e)
    # Reversed names: the spec's first joint is the trajectory's last.
    np.testing.assert_array_equal(episode.commands.values, [np.arange(6)[::-1] + k for k in range(3)])
    assert len(episode.observations) == len(episode.actions) == 4
    observation, action = pair_by_time(episode.observations.t_ns, episode.actions.t_ns)
    np.testing.assert_array_equal(observation, action)
    np.testing.assert_array_equal(episode.observations.values[observation, 0], episode.actions.values[action, 0])
