"""Open-loop replay in a simulator: a recorded MuJoCo arm run replayed in MuJoCo and PyBullet, and the
TurtleBot3 bag we did not write driving our burger through ``sim2real replay --in-sim``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from episodes.errors import EpisodeError
from episodes.recording import EpisodeRecorder
from episodes.sim_replay import plot_replay, replay_in_sim
from hardware import RobotSpec
from hardware.command import Command
from hardware.safety import SafeRobot
from robots import robot_yaml
from sim.mujoco_robot import MujocoRobot

ROOT = Path(__file__).parents[2]
UR5E = RobotSpec.from_yaml(robot_yaml("ur5e"))
TURTLEBOT_BAG = Path(__file__).parents[3] / "shared" / "data" / "bags" / "turtlebot3_sim.bag"
TB3_MAPPING = {"joint_states": "/joint_states", "cmd_vel": "/cmd_vel", "odom": "/odom", "scan": "/scan"}


def record_arm_run(path: Path, steps: int = 60) -> Path:
    """Record a UR5e in MuJoCo tracking a sine on every joint through the safety layer (one episode)."""
    sim = MujocoRobot(UR5E)
    robot = SafeRobot(sim, clock_ns=sim.now_ns)
    home = UR5E.home_position
    with EpisodeRecorder(path, UR5E, time_origin_ns=10**18) as rec:
        state = robot.reset()
        rec.start_episode(state.stamp_ns)
        for k in range(steps):
            state = robot.read()
            rec.write_state(state)
            target = home + 0.4 * np.sin(2 * np.pi * 0.25 * k * UR5E.control_period_s + np.arange(UR5E.dof))
            sent = robot.write(Command.position(target))
            rec.write_command(sent, state.stamp_ns)
        state = robot.read()
        rec.write_state(state)
        rec.end_episode(state.stamp_ns, "done")
    robot.close()
    return path


@pytest.fixture(scope="module")
def arm_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_arm_run(tmp_path_factory.mktemp("bags") / "ur5e")


def test_an_arm_run_replayed_in_the_same_simulator_matches_the_log(arm_bag: Path, tmp_path: Path) -> None:
    result = replay_in_sim(arm_bag, UR5E, "mujoco")
    assert result.steps == 60 and result.commands == 60
    # Our recorder logged the commands after the safety layer: replayed as sent, none clipped.
    assert result.safety is False and "after the safety layer" in result.safety_reason
    assert result.clipped == 0 and result.held == 0
    # The log moves (a replay that did nothing would be far off), and the sim follows it.
    assert np.ptp(result.logged, axis=0).min() > 0.1
    assert result.metrics["rmse_rad"] < 1e-3 and result.metrics["max_error_rad"] < 1e-3
    assert set(result.metrics["per_joint"]) == set(UR5E.joint_names)
    png = plot_replay(result, tmp_path / "arm.png")
    assert png.stat().st_size > 10_000


def test_the_safety_layer_refilters_its_own_arm_commands(arm_bag: Path) -> None:
    # The position limiter heads for each target no faster than it can brake on it: fed its own
    # moving outputs it lags them (why our bags replay raw by default). Measured: 6 of 60 commands
    # changed (while the sine starts), 0.04 rad max error, settling back to the log.
    result = replay_in_sim(arm_bag, UR5E, "mujoco", safety=True)
    assert result.safety and 3 <= result.clipped <= 20
    assert result.metrics["max_error_rad"] > 0.01 and np.abs(result.error[-10:]).max() < 1e-3


def test_an_arm_run_replayed_in_pybullet_diverges_very_little(arm_bag: Path) -> None:
    result = replay_in_sim(arm_bag, UR5E, "pybullet")
    # PyBullet's JointDrive does MuJoCo's servo arithmetic (sim.pybullet_actuators) in free motion:
    # measured 5e-14 rad RMSE, 4e-13 rad max against the MuJoCo log (MuJoCo itself: exactly 0).
    assert np.ptp(result.simulated, axis=0).min() > 0.1
    assert result.metrics["rmse_rad"] < 1e-6 and result.metrics["max_error_rad"] < 1e-5


def test_a_replay_slice_and_a_missing_episode(arm_bag: Path) -> None:
    result = replay_in_sim(arm_bag, UR5E, start_s=2.0, duration_s=1.0)
    assert result.steps == 10
    np.testing.assert_allclose(result.simulated[0], result.logged[0])  # starts in the logged state
    with pytest.raises(EpisodeError, match="no episode 3"):
        replay_in_sim(arm_bag, UR5E, episode=3)


@pytest.mark.skipif(not TURTLEBOT_BAG.exists(), reason=f"shared test bag {TURTLEBOT_BAG} is absent")
def test_the_turtlebot_bag_drives_our_burger_in_sim_through_the_cli(tmp_path: Path) -> None:
    mapping = tmp_path / "tb3.yaml"
    mapping.write_text(yaml.safe_dump(TB3_MAPPING))
    out = tmp_path / "out"
    args = [TURTLEBOT_BAG, "--robot", "burger", "--mapping", mapping, "--in-sim", "--out", out, "--duration", "30"]
    result = subprocess.run(
        [sys.executable, "-m", "sim2real", "replay", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = yaml.safe_load((out / "replay_mujoco.yaml").read_text())
    assert (out / "replay_mujoco.png").stat().st_size > 10_000
    assert summary["steps"] == 600 and summary["safety_layer"] is True  # a bag we did not write
    # The teleop drove at up to 0.5 m/s, past the burger's 0.22 m/s: the safety layer clipped, and
    # the CLI says so; teleop pauses longer than the cmd_vel timeout stopped the base.
    assert summary["clipped_steps"] > 100 and "safety layer changed" in result.stdout
    assert summary["stopped_steps"] > 0
    # Measured on the first 30 s: logged 6.98 m of path, simulated 3.85 m; drift 3.1 m final,
    # 3.4 m max; heading 2.4 rad final.
    assert summary["simulated_path_m"] < summary["logged_path_m"]
    assert 1.0 < summary["logged_path_m"] < 15.0 and 0.5 < summary["simulated_path_m"]
    for key in ("final_position_drift_m", "max_position_drift_m"):
        assert np.isfinite(summary[key]) and 0.05 < summary[key] < 10.0
    assert summary["final_position_drift_m"] <= summary["max_position_drift_m"]
    assert 0.0 <= summary["final_heading_drift_rad"] <= summary["max_heading_drift_rad"] <= np.pi


def test_replay_errors_are_one_line(arm_bag: Path, tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "sim2real", "replay", str(arm_bag), "--in-sim", "--episode", "7", "--out", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "no episode 7" in bad.stderr
