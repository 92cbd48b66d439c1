"""Recording: a simulated run written with EpisodeRecorder reads back the same, also with independent readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader

from episodes.errors import RecordingError
from episodes.reading import read_episodes
from episodes.recording import EpisodeRecorder, ros2_typestore
from episodes.topics import ACTION_TOPIC, COMMAND_TOPIC, EPISODE_TOPIC, OBSERVATION_TOPIC, REWARD_TOPIC
from hardware import RobotSpec
from hardware.command import Command
from hardware.safety import SafeRobot
from hardware.state import RobotState
from robots import robot_yaml
from sim.backends import make_robot

STEPS = 30
METADATA = {"bundle": "bundles/reach-v1", "calibration": "none", "git_revision": "0123abc"}


def record_sim_run(spec: RobotSpec, path: Path) -> tuple[list[list[RobotState]], list[list[Command]]]:
    """Two episodes of random-but-safe commands in MuJoCo, recorded; returns what was recorded."""
    raw = make_robot(spec, "mujoco")
    robot = SafeRobot(raw, clock_ns=raw.now_ns)
    rng = np.random.default_rng(7)
    states: list[list[RobotState]] = []
    commands: list[list[Command]] = []
    with EpisodeRecorder(path, spec, metadata=METADATA, time_origin_ns=1_700_000_000_000_000_000) as rec:
        for episode in range(2):
            robot.reset(seed=episode)
            rec.start_episode(raw.now_ns())
            states.append([])
            commands.append([])
            for step in range(STEPS):
                state = robot.read()
                if spec.command_interface == "twist":
                    wanted = Command.twist(rng.uniform(-0.2, 0.2), rng.uniform(-2.0, 2.0))
                else:
                    wanted = Command.position(spec.home_position + rng.uniform(-0.1, 0.1, spec.dof))
                sent = robot.write(wanted)
                rec.write_state(state)
                rec.write_command(sent, state.stamp_ns)
                rec.write_observation(np.concatenate([state.position, state.velocity]), state.stamp_ns)
                rec.write_action(sent.values, state.stamp_ns)
                rec.write_reward(-0.1 * step, state.stamp_ns)
                states[-1].append(state)
                commands[-1].append(sent)
            rec.end_episode(raw.now_ns(), "success" if episode == 0 else "timeout")
    robot.close()
    return states, commands


@pytest.mark.parametrize("name", ["ur5e", "burger"])
def test_sim_run_round_trips(name: str, tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(robot_yaml(name))
    bag = tmp_path / "run"
    states, commands = record_sim_run(spec, bag)
    episodes = read_episodes(bag, spec)

    assert [(e.index, e.outcome) for e in episodes] == [(0, "success"), (1, "timeout")]
    assert episodes[0].end_ns < episodes[1].start_ns  # the sim clock restarts; log time does not
    for episode, logged, sent in zip(episodes, states, commands, strict=True):
        assert len(episode.states) == STEPS
        np.testing.assert_array_equal(episode.positions, [s.position for s in logged])
        np.testing.assert_array_equal(episode.velocities, [s.velocity for s in logged])
        np.testing.assert_array_equal(episode.states.stamp_ns, [s.stamp_ns for s in logged])
        np.testing.assert_array_equal(episode.commands.values, [c.values for c in sent])
        np.testing.assert_array_equal(episode.actions.values, [c.values for c in sent])
        np.testing.assert_array_equal(episode.rewards.values[:, 0], -0.1 * np.arange(STEPS))
        assert episode.observations.values.shape == (STEPS, 2 * spec.dof)
        assert np.all(np.diff(episode.states.t_ns) > 0)
        assert episode.start_ns <= episode.states.t_ns[0] and episode.states.t_ns[-1] <= episode.end_ns
        if spec.kind == "base":
            odo = [s.odometry for s in logged]
            expected = [[o.x_m, o.y_m, o.yaw_rad, o.linear_x_mps, o.linear_y_mps, o.angular_z_radps] for o in odo]
            np.testing.assert_allclose(episode.odometry.values, expected, atol=1e-12)
            scans = {s.scan.stamp_ns: s.scan.ranges_m for s in logged if s.scan is not None}
            assert len(episode.scans) == len(scans) >= 2
            # Ranges go through float32 on the wire (sensor_msgs/LaserScan); inf stays inf.
            np.testing.assert_array_equal(
                episode.scans.values, [np.float32(r).astype(np.float64) for r in scans.values()]
            )


def test_bag_opens_with_rosbags_and_mcap_and_carries_metadata(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(robot_yaml("burger"))
    bag = tmp_path / "run"
    record_sim_run(spec, bag)
    expected = {
        "/joint_states": ("sensor_msgs/msg/JointState", 2 * STEPS),
        "/odom": ("nav_msgs/msg/Odometry", 2 * STEPS),
        "/cmd_vel": ("geometry_msgs/msg/TwistStamped", 2 * STEPS),
        OBSERVATION_TOPIC: ("std_msgs/msg/Float64MultiArray", 2 * STEPS),
        ACTION_TOPIC: ("std_msgs/msg/Float64MultiArray", 2 * STEPS),
        REWARD_TOPIC: ("std_msgs/msg/Float64", 2 * STEPS),
        EPISODE_TOPIC: ("std_msgs/msg/String", 4),
    }

    with AnyReader([bag]) as reader:
        counts = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
        markers = [
            reader.deserialize(raw, c.msgtype).data for c, _, raw in reader.messages() if c.topic == EPISODE_TOPIC
        ]
    assert markers == ["start 0", "end 0 success", "start 1", "end 1 timeout"]
    scans = counts.pop("/scan")
    assert scans[0] == "sensor_msgs/msg/LaserScan" and scans[1] >= 4
    assert counts == expected

    (mcap_file,) = bag.glob("*.mcap")
    with mcap_file.open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary is not None
        channels = {ch.id: ch for ch in summary.channels.values()}
        by_topic = {ch.topic: summary.schemas[ch.schema_id].name for ch in channels.values()}
        n = {channels[cid].topic: count for cid, count in summary.statistics.channel_message_counts.items()}
        read = sum(1 for _ in reader.iter_messages())
    assert {topic: by_topic[topic] for topic in expected} == {t: v[0] for t, v in expected.items()}
    assert {topic: n[topic] for topic in expected} == {t: v[1] for t, v in expected.items()}
    assert read == sum(n.values())
    assert all(ch.message_encoding == "cdr" for ch in channels.values())

    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"
    assert info["custom_data"] == {"robot": "burger", **METADATA}


def test_a_bag_closed_by_an_exception_still_opens(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    bag = tmp_path / "crashed"
    with pytest.raises(ZeroDivisionError), EpisodeRecorder(bag, spec) as rec:
        rec.start_episode(0)
        for k in range(5):
            rec.write_state(RobotState(stamp_ns=k * 100_000_000, position=spec.home_position + k))
        _ = 1 / 0
    (episode,) = read_episodes(bag, spec)
    assert episode.outcome == "aborted"  # the recorder closed the open episode on the way out
    np.testing.assert_array_equal(episode.positions[:, 0], spec.home_position[0] + np.arange(5))
    with pytest.raises(RecordingError, match="after it was closed"):
        rec.write_state(RobotState(stamp_ns=0, position=spec.home_position))


def test_arm_commands_are_labelled_with_their_interface(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    with EpisodeRecorder(tmp_path / "bag", spec) as rec:
        rec.write_state(RobotState(stamp_ns=0, position=spec.home_position))
        rec.write_command(Command.position(spec.home_position), 0)
    with AnyReader([tmp_path / "bag"], default_typestore=ros2_typestore()) as reader:
        (msg,) = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == COMMAND_TOPIC]
    assert msg.layout.dim[0].label == "position" and msg.layout.dim[0].size == spec.dof


def test_recorder_refuses_an_existing_bag_and_non_string_metadata(tmp_path: Path) -> None:
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    (tmp_path / "taken").mkdir()
    with pytest.raises(RecordingError, match="taken"):
        EpisodeRecorder(tmp_path / "taken", spec)
    with pytest.raises(RecordingError, match="string"):
        EpisodeRecorder(tmp_path / "new", spec, metadata={"seed": 3})  # type: ignore[dict-item]
    rec = EpisodeRecorder(tmp_path / "other", spec)
    with pytest.raises(RecordingError, match="start_episode"):
        rec.end_episode(0)
    rec.close()
