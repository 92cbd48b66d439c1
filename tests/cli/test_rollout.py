"""``sim2real rollout``: a scripted controller solves ArmReach on both simulators, with video."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest
import yaml


def sim2real(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim2real", *args], capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("backend", ["mujoco", "pybullet"])
def test_scripted_reach_succeeds_and_writes_video_and_summary(backend: str, tmp_path: Path) -> None:
    done = sim2real("rollout", "ArmReach", "--policy", "scripted", "--episodes", "2", "--backend", backend,
                    "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = yaml.safe_load((tmp_path / "rollout.yaml").read_text())
    assert summary["success_rate"] == 1.0 and len(summary["episodes"]) == 2
    assert all(episode["steps"] == 50 for episode in summary["episodes"])
    assert summary["continuity_cost"] > 0
    frames = imageio.get_reader(tmp_path / "rollout.mp4").count_frames()
    assert frames == 101  # the reset frame, then one per step


def test_random_explore_reports_coverage(tmp_path: Path) -> None:
    done = sim2real("rollout", "BaseExplore", "--episodes", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (episode,) = yaml.safe_load((tmp_path / "rollout.yaml").read_text())["episodes"]
    assert 0 < episode["coverage"] <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Nope"], "unknown environment 'Nope'; use one of"),
        (["BaseExplore", "--policy", "scripted"], "no scripted policy for BaseExplore; use --policy random"),
        (["ArmReach", "--randomization", "missing.yaml"], "--randomization missing.yaml does not exist"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], message: str, tmp_path: Path) -> None:
    done = sim2real("rollout", *args, "--out", str(tmp_path))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines[-1].startswith("sim2real: error: ") and message in lines[-1], done.stderr
