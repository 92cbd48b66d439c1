"""``sim2real run BUNDLE --record BAG``: every episode of a simulated run in a rosbag2 MCAP bag, read
back as the same episodes (count, outcomes, steps) with the run's metadata."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader

from episodes.reading import read_episodes
from hardware.spec import RobotSpec
from robots import robot_yaml
from sim2real import cli
from tests.ros.bundles import untrained_bundle

UR5E = RobotSpec.from_yaml(robot_yaml("ur5e"))
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_bundle(tmp_path_factory.mktemp("reach"), "ArmReach")


def test_run_records_every_episode(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "runs" / "bag"
    argv = ["run", str(bundle), "--episodes", "3", "--max-steps", "6", "--out", str(tmp_path), "--record", str(bag)]
    assert cli.main(argv) == 0
    assert f"recorded: {bag}" in capsys.readouterr().out
    summary = yaml.safe_load((tmp_path / "run.yaml").read_text())
    episodes = read_episodes(bag, UR5E)

    assert [e.index for e in episodes] == [0, 1, 2]
    runs = summary["episode_results"]
    assert [e.outcome for e in episodes] == ["success" if r["success"] else "timeout" for r in runs]
    for episode, run in zip(episodes, runs, strict=True):
        steps = run["steps"]
        assert len(episode.actions) == len(episode.observations) == len(episode.rewards) == steps
        periods = steps * (len(episode.states) // steps)  # every control period's state and command
        assert len(episode.states) == len(episode.commands) == periods >= steps
        assert np.isclose(episode.rewards.values.sum(), run["return"])
        assert np.all(np.diff(episode.states.t_ns) >= 0)
        assert episode.start_ns <= episode.states.t_ns[0] and episode.states.t_ns[-1] <= episode.end_ns
    assert episodes[0].end_ns < episodes[1].start_ns  # sim time restarts each reset; log time does not

    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 9 and metadata["storage_identifier"] == "mcap"
    custom = metadata["custom_data"]  # the run's metadata
    assert custom["robot"] == "ur5e" and custom["bundle"] == str(bundle.resolve())
    assert custom["backend"] == "mujoco" and custom["seed"] == "0"
    assert len(custom["git_revision"]) == 40 or custom["git_revision"] == "unknown"
    assert custom["calibration"] == "none" and custom["robot_yaml"].endswith("ur5e.yaml")


def test_record_refuses_an_existing_bag(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    assert cli.main(["run", str(bundle), "--episodes", "1", "--max-steps", "2", "--record", str(bag)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(bag) in error and "new bag path" in error


def test_demo_episodes_part_reads_replays_evaluates_and_exports(bundle: Path, tmp_path: Path) -> None:
    """``sim2real demo`` part 6 on a recorded PyBullet run: its lines carry the measured numbers."""
    from policies.deploy import run_bundle
    from sim2real.demo_episodes import TURTLEBOT_BAG, run_episodes_demo

    bag = tmp_path / "pybullet_episodes"
    run_bundle(bundle, backend="pybullet", episodes=2, seed=3, max_steps=5, record=bag)
    lines = run_episodes_demo(bag, bundle, tmp_path / "episodes")
    assert "2 episodes of ur5e" in lines[0]
    assert "replayed in MuJoCo" in lines[1] and "joint RMSE" in lines[1]
    assert "differ from the logged actions by at most 0" in lines[2]  # the bundle that drove the run
    with np.load(tmp_path / "episodes" / "dataset.npz") as data:  # 5 steps each; a timeout's last has no next
        assert 8 <= len(data["rewards"]) <= 10 and f"{len(data['rewards'])} transitions" in lines[3]
    for name in ("replay_pybullet_run_in_mujoco.png", "offline_actions.png", "dataset.npz"):
        assert (tmp_path / "episodes" / name).stat().st_size > 1000
    assert ("a bag we did not write" in lines[4]) == TURTLEBOT_BAG.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_recording_run_stopped_by_a_signal_leaves_a_readable_bag(bundle: Path, tmp_path: Path, sig: int) -> None:
    """SIGTERM unwinds ``sim2real run`` (the bag is closed complete, an open episode ``aborted``,
    exit 143); after SIGKILL everything up to the last checkpoint reads back."""
    bag = tmp_path / "bag"
    argv = ["run", str(bundle), "--episodes", "1000", "--max-steps", "20", "--out", str(tmp_path), "--record", str(bag)]
    process = subprocess.Popen([sys.executable, "-m", "sim2real", *argv], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (bag / "metadata.yaml").exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)  # the first episode's end checkpoints the bag
        time.sleep(1.0)  # a few more episodes, one of them open when the signal comes
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    episodes = read_episodes(bag, UR5E)
    assert len(episodes) >= 2, stderr
    # Every whole episode is intact (the last one may have been cut anywhere, even before its first state).
    assert all(len(e.states) and len(e.actions) == len(e.observations) > 0 for e in episodes[:-1])
    if sig == signal.SIGTERM:
        assert process.returncode == 143 and "terminated" in stderr, stderr
        assert all(e.outcome in ("success", "timeout") for e in episodes[:-1])
        assert episodes[-1].outcome in ("aborted", "success", "timeout")  # open when the signal came, or not
        (mcap,) = bag.glob("*.mcap")
        with mcap.open("rb") as stream:
            summary = make_reader(stream).get_summary()  # closed complete: the summary is written
        assert summary is not None and summary.statistics is not None
    else:
        assert process.returncode == -signal.SIGKILL
        # Checkpoints come at each episode end and every second: the last episode may be cut short.
        assert all(e.outcome in ("success", "timeout") for e in episodes[:-1])
        assert episodes[-1].outcome in ("success", "timeout", None)
