"""``ReplayRobot``: a logged episode as a ``hardware.Robot``, driven by the deployment loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from episodes.episode import Episode
from episodes.reading import read_episodes
from episodes.replay_robot import ReplayRobot
from hardware.command import Command
from hardware.errors import CommandError
from hardware.robot import Robot
from policies.bundle import load_bundle
from policies.deploy import PolicyRunner
from tests.episodes.test_sim_replay import UR5E, record_arm_run
from tests.ros.bundles import untrained_bundle

STEPS = 40


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> Episode:
    bag = record_arm_run(tmp_path_factory.mktemp("bags") / "ur5e", steps=STEPS)
    (recorded,) = read_episodes(bag, UR5E)
    return recorded


def test_reads_the_logged_state_and_advances_one_period_per_write(episode: Episode) -> None:
    robot = ReplayRobot(episode, UR5E)
    assert isinstance(robot, Robot)
    start = robot.reset()
    np.testing.assert_array_equal(start.position, episode.positions[0])
    assert start.stamp_ns == episode.states.stamp_ns[0] and robot.now_ns() == start.stamp_ns
    for k in range(STEPS):
        assert not robot.done
        state = robot.read()
        np.testing.assert_array_equal(state.position, episode.positions[k])
        assert state.age_s(robot.now_ns()) == 0.0  # the logged stamp, on the clock now_ns gives
        given = Command.position(state.position + 0.01)
        assert robot.write(given) is given
        np.testing.assert_array_equal(robot.logged_commands[-1], episode.commands.values[k])
    assert robot.done and robot.elapsed_s == pytest.approx(STEPS * UR5E.control_period_s)
    np.testing.assert_array_equal(robot.read().position, episode.positions[-1])
    assert len(robot.given) == STEPS
    robot.reset()
    assert robot.given == [] and robot.elapsed_s == 0.0


def test_a_log_cannot_be_moved_or_given_a_wrong_command(episode: Episode) -> None:
    robot = ReplayRobot(episode, UR5E)
    with pytest.raises(ValueError, match="a log cannot be moved"):
        robot.reset(position=UR5E.home_position)
    with pytest.raises(CommandError):
        robot.write(Command.velocity(np.zeros(UR5E.dof)))


def test_a_policy_runner_ticks_through_a_recorded_episode(episode: Episode, tmp_path: Path) -> None:
    bundle = load_bundle(untrained_bundle(tmp_path, "ArmReach"), UR5E)
    robot = ReplayRobot(episode, UR5E)
    runner = PolicyRunner(bundle, robot)
    runner.task.set_goal(runner.task.home_ee + 0.1)
    runner.start()
    ticks = []
    while not robot.done:
        ticks.append(runner.tick())
    assert len(ticks) == STEPS and sum(t.acted for t in ticks) == -(-STEPS // bundle.control_steps_per_action)
    # The policy saw the logged states, in order, and each command it sent reached the replay.
    for k, tick in enumerate(ticks):
        np.testing.assert_array_equal(tick.state.position, episode.positions[k])
        assert robot.given[k] is tick.sent
    # The logged states are fresh at every tick: the watchdog never held.
    assert runner.counts.held == 0 and runner.counts.writes == STEPS
    assert any(not np.array_equal(t.sent.values, episode.commands.values[k]) for k, t in enumerate(ticks))
