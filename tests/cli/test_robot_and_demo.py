"""`sim2real robot` and the safety demo: a robot description checked through the real command
line, and the safety layer driving the simulated UR5e under injected faults."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from hardware import RobotSpec
from policies.metrics import continuity_cost
from robots import robot_yaml
from sim2real import demo_safety

ROBOTS = Path(__file__).resolve().parents[2] / "robots"


def sim2real(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim2real", *args], capture_output=True, text=True, timeout=120)


def test_robot_command_reports_kinematic_agreement_and_renders(tmp_path: Path) -> None:
    done = sim2real("robot", "ur5e", "--out", str(tmp_path), "--configurations", "20")
    assert done.returncode == 0, done.stderr
    assert "shoulder_pan_joint" in done.stdout and "/scaled_joint_trajectory_controller/joint_trajectory" in done.stdout
    match = re.search(r"agree to ([0-9.e+-]+) m, ([0-9.e+-]+) rad", done.stdout)
    assert match, done.stdout
    assert float(match.group(1)) < 1e-6 and float(match.group(2)) < 1e-6
    picture = tmp_path / "ur5e.png"
    from PIL import Image

    image = np.asarray(Image.open(picture))
    assert image.shape == (360, 480, 3)
    assert image.std() > 10, "the picture is not a blank frame"


def test_bad_robot_files_give_one_line_errors_through_the_command_line(tmp_path: Path) -> None:
    data = yaml.safe_load((ROBOTS / "ur5e.yaml").read_text())
    data["urdf"] = str(ROBOTS / "ur5e.urdf")
    cases = {
        "unknown_joint": (
            {**data, "joints": [*data["joints"][:5], "wrist_9_joint"]},
            "'wrist_9_joint' is not in ur5e.urdf",
        ),
        "negative_limit": ({**data, "limits": {"acceleration": -8.0}}, "limits are magnitudes"),
    }
    for name, (doc, fragment) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        done = sim2real("robot", str(path))
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sim2real: error: "), done.stderr
        assert str(path) in lines[0] and fragment in lines[0]
    broken = tmp_path / "broken.urdf"
    broken.write_text((ROBOTS / "ur5e.urdf").read_text().replace("</robot>", ""))
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({**data, "urdf": str(broken)}))
    done = sim2real("robot", str(path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "broken.urdf" in done.stderr and "not valid XML" in done.stderr


def test_safety_layer_keeps_the_simulated_arm_safe_under_injected_faults() -> None:
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    rollout = demo_safety.run_rollout(spec)
    dt = spec.control_period_s
    nan_rows = ~np.isfinite(rollout.wanted).all(axis=1)
    nan_steps, stale_steps, estop_steps = (
        demo_safety.fault_steps(spec, w) for w in (demo_safety.NAN_S, demo_safety.STALE_S, demo_safety.ESTOP_S)
    )
    assert nan_rows.sum() == nan_steps[1] - nan_steps[0]
    # Holds: the e-stop window, and the stale window after the watchdog's grace period.
    grace = math.floor(spec.safety.watchdog_timeout_s / dt)
    stale = stale_steps[1] - stale_steps[0] - grace
    assert rollout.held.sum() == stale + estop_steps[1] - estop_steps[0]
    e0, e1 = estop_steps
    assert np.all(rollout.sent[e0:e1] == rollout.sent[e0]), "the e-stop holds one position"
    # The simulated joints never leave their limits; the commands respect speed and acceleration.
    assert np.all(rollout.measured >= spec.position_lower) and np.all(rollout.measured <= spec.position_upper)
    velocity = np.diff(rollout.sent, axis=0) / dt
    assert np.all(np.abs(velocity) <= spec.max_velocity + 1e-9)
    moving = ~(rollout.held[2:] | rollout.held[1:-1])
    acceleration = np.diff(velocity, axis=0)[moving] / dt
    assert np.all(np.abs(acceleration) <= spec.max_acceleration * (1 + 1e-6))
    # White noise in, smooth motion out; and the servo follows what was sent.
    low, high = spec.position_lower, spec.position_upper
    wanted = continuity_cost(rollout.wanted[~nan_rows], low, high)
    assert continuity_cost(rollout.sent, low, high) < wanted / 30
    # The servo interpolates each target over the period with velocity feed-forward, so it is
    # close behind at the end of the period, except where white noise drives the wrist into
    # the floor (a few steps). The policy's noise itself is 0.6 rad.
    tracking = np.abs(rollout.measured - rollout.sent)
    assert np.percentile(tracking, 95) < 0.05 and tracking.mean() < 0.02
