"""``recorder_node`` over real ROS 2: it records a running ``sim_node``'s joint states (raw CDR)
and leaves a bag that reads back after Ctrl-C, SIGTERM and even SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import JointState

from episodes.offline import evaluate_offline
from episodes.reading import read_episodes
from episodes.recording import ros2_typestore
from episodes.sim_replay import replay_in_sim
from hardware import RobotSpec
from policies.bundle import load_bundle
from robots import robot_yaml
from tests.ros.bundles import REACH_CONFIG, trained_bundle
from tests.ros.ros_helpers import ROOT, Collector, ros_context, spin_for, start_node, stop_process

START_TIMEOUT_S = 20.0
RECORD_S = 1.5


@pytest.fixture
def sim() -> Iterator[subprocess.Popen[str]]:
    """A UR5e ``sim_node`` publishing joint states at its default rate."""
    process = start_node("sim2real_ros.sim_node", {"robot": "ur5e"})
    yield process
    stop_process(process, signal.SIGKILL)


def record(sim: subprocess.Popen[str], bag: Path, sig: int) -> tuple[list[tuple[JointState, float]], float, str]:
    """Record /joint_states for :data:`RECORD_S` beside a collector, then send ``sig`` to the recorder.

    :returns: the messages this process heard while the recorder ran with their arrival times,
        when ``sig`` was sent (both ``time.monotonic``), and the recorder's output.
    """
    with ros_context("recorder_test") as (_, node, executor):
        heard = Collector(node, JointState, "/joint_states")
        if not heard.wait(executor, 1, START_TIMEOUT_S):
            pytest.fail(f"sim_node published nothing:\n{stop_process(sim)[1]}")
        recorder = start_node(
            "sim2real_ros.recorder_node",
            {"output": str(bag), "topics": ["/joint_states"], "checkpoint_period_s": 0.2, "bundle": "bundles/reach-v1"},
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _has_topic(bag) and time.monotonic() < deadline:
                spin_for(executor, 0.05)
            assert _has_topic(bag), stop_process(recorder)[1]
            heard.clear()
            spin_for(executor, RECORD_S)
            sent_at = time.monotonic()
            code, output = stop_process(recorder, sig)
        finally:
            stop_process(recorder, signal.SIGKILL)
        if sig != signal.SIGKILL:
            assert code == 0, output
        return list(zip(heard.messages, heard.arrivals_s, strict=True)), sent_at, output


def _has_topic(bag: Path) -> bool:
    """The recorder has checkpointed a bag with joint states in it: it is subscribed and matched."""
    meta = bag / "metadata.yaml"
    if not meta.is_file():
        return False
    info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
    topics = info["topics_with_message_count"]
    return any(t["topic_metadata"]["name"] == "/joint_states" and t["message_count"] for t in topics)


def stamp(msg: JointState) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def read_stamps(bag: Path) -> list[tuple[int, int]]:
    """The header stamp of every /joint_states message in ``bag``, through rosbags."""
    typestore = ros2_typestore()
    with AnyReader([bag], default_typestore=typestore) as reader:
        connections = [c for c in reader.connections if c.topic == "/joint_states"]
        return [stamp(reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages(connections=connections)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_closes_the_bag_complete(sim: subprocess.Popen[str], tmp_path: Path, sig: int) -> None:
    bag = tmp_path / "bag"
    heard, sent_at, output = record(sim, bag, sig)
    recorded = read_stamps(bag)
    # The recorder subscribed before the collector was cleared and stopped after it: it has all
    # the collector heard (but what was in flight when the signal came), and not much more
    # (its start-up wait, the last spin).
    before = {stamp(m) for m, t in heard if t < sent_at - 0.05}
    assert len(before) > 50
    assert before <= set(recorded)
    assert len(heard) - 5 <= len(recorded) <= len(heard) + 60, (len(heard), len(recorded), output)
    (mcap,) = bag.glob("*.mcap")
    with mcap.open("rb") as stream:
        summary = make_reader(stream).get_summary()  # the independent reader sees a complete summary
    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count == len(recorded)
    custom = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["custom_data"]
    assert custom["bundle"] == "bundles/reach-v1" and custom["recorded_by"] == "/recorder_node"
    assert len(custom["git_revision"]) == 40 or custom["git_revision"] == "unknown"
    assert "robot" not in custom  # topics only: no robot named


def test_sigkill_leaves_a_bag_that_opens(sim: subprocess.Popen[str], tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    heard, killed_at, output = record(sim, bag, signal.SIGKILL)
    recorded = read_stamps(bag)
    (mcap,) = bag.glob("*.mcap")
    with mcap.open("rb") as stream:
        assert sum(1 for _ in make_reader(stream).iter_messages()) == len(recorded)
    # Checkpoints every 0.2 s: everything heard more than 0.5 s before the kill is in the bag.
    early = {stamp(m) for m, t in heard if t < killed_at - 0.5}
    assert len(early) > 0.5 * len(heard), (len(heard), output)
    assert early <= set(recorded)


@pytest.fixture(scope="session")
def reach_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_bundle(tmp_path_factory, "reach", REACH_CONFIG)


def _action_count(bag: Path) -> int:
    meta = bag / "metadata.yaml"
    if not meta.is_file():
        return 0
    topics = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]["topics_with_message_count"]
    return sum(t["message_count"] for t in topics if t["topic_metadata"]["name"] == "/policy_node/action")


@pytest.mark.xdist_group("reach")
def test_a_deployment_recorded_on_ros_replays_in_sim_and_offline(reach_bundle: Path, tmp_path: Path) -> None:
    """The trained reach bundle deployed on the ROS graph (sim_node + policy_node), recorded by
    ``recorder_node robot:=ur5e``, reads back without a mapping (commands from the trajectory
    controller's topic, the policy node's observations and actions), replays open loop in MuJoCo
    close to what sim_node did, and evaluates offline to the actions the node sent."""
    ur5e = RobotSpec.from_yaml(robot_yaml("ur5e"))
    task = load_bundle(reach_bundle, ur5e).make_task(ur5e)
    goal = task.home_ee + np.array([0.08, -0.1, 0.06])
    graph = subprocess.Popen(
        [sys.executable, "-m", "sim2real", "launch", "sim_arm", f"bundle:={reach_bundle}",
         f"goal:=[{goal[0]:.4f}, {goal[1]:.4f}, {goal[2]:.4f}]"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    bag = tmp_path / "deployment"
    recorder = start_node(
        "sim2real_ros.recorder_node",
        {"output": str(bag), "robot": "ur5e", "bundle": str(reach_bundle), "checkpoint_period_s": 0.2},
    )
    try:
        deadline = time.monotonic() + 60
        while _action_count(bag) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        code, output = stop_process(recorder, signal.SIGINT)
        assert code == 0 and _action_count(bag) >= 30, output
    finally:
        stop_process(recorder, signal.SIGKILL)
        stop_process(graph)

    (episode,) = read_episodes(bag, ur5e)  # no markers on the ROS graph: one episode, no mapping needed
    assert len(episode.commands) >= 30 and len(episode.states) > 5 * len(episode.commands)
    assert len(episode.actions) >= 30 and episode.observations.values.shape[1] == 21

    offline = evaluate_offline(bag, reach_bundle, ur5e)
    assert offline["steps"] >= len(episode.actions) - 2  # pairs found for (nearly) every action
    assert offline["max"] < 1e-4, offline  # the same bundle, on what the node saw: what it sent

    replay = replay_in_sim(bag, ur5e, "mujoco")
    assert not replay.safety  # recorded after the node's safety layer: replayed as sent
    print(f"replay of the ROS deployment: RMSE {replay.metrics['rmse_rad']:.4f} rad, "
          f"max {replay.metrics['max_error_rad']:.4f} rad over {replay.steps} steps")  # fmt: skip
    assert replay.metrics["rmse_rad"] < 0.005 and replay.metrics["max_error_rad"] < 0.05  # measured 5e-4, 3e-3
