"""`sim2real doctor`: everything passes here, and broken installs are named with their fix.

The end-to-end tests run doctor as users do (``python -m sim2real doctor`` in a child process)
and break one thing at a time through the environment; the unit tests call the check functions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sim2real import doctor
from sim2real.doctor import CHECKS, CheckResult

# A full doctor run takes a few seconds here; a hang (a broken RMW) must not block the suite.
DOCTOR_TIMEOUT_S = 180


def run_doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sim2real doctor ARGS`` with ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "sim2real", "doctor", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=DOCTOR_TIMEOUT_S,
        check=False,
    )


def check_lines(output: str) -> dict[str, str]:
    """Doctor's check lines by check name (the summary line is left out)."""
    lines = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("OK", "FAIL"):
            lines[rest.split()[0]] = line
    return lines


def test_doctor_passes_every_check_here() -> None:
    done = run_doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = check_lines(done.stdout)
    assert list(lines) == list(CHECKS)
    assert all(line.startswith("OK") for line in lines.values()), done.stdout
    assert done.stdout.splitlines()[-1] == f"{len(CHECKS)} checks, 0 failed"
    assert "rmw_fastrtps_cpp" in lines["rclpy"]
    assert "MUJOCO_GL=" in lines["mujoco-render"]


def test_doctor_names_a_missing_rmw_and_its_fix() -> None:
    # rcl exits the whole process with status 102 on `import rclpy` when RMW_IMPLEMENTATION names
    # an RMW that is not installed; doctor runs rclpy in a child process and must survive that.
    done = run_doctor(env={"RMW_IMPLEMENTATION": "rmw_doesnotexist_cpp"})
    assert done.returncode == 1, done.stdout + done.stderr
    rclpy_line = check_lines(done.stdout)["rclpy"]
    assert rclpy_line.startswith("FAIL")
    assert "rmw_doesnotexist_cpp" in rclpy_line
    assert "fix: unset RMW_IMPLEMENTATION" in rclpy_line
    assert "pip install ros-kilted-rmw-doesnotexist-cpp" in rclpy_line
    assert done.stdout.splitlines()[-1] == f"{len(CHECKS)} checks, 1 failed: rclpy"


def test_doctor_names_a_missing_opencv_and_its_fix(tmp_path: Path) -> None:
    # A cv2 module first on the path that fails to import, as a missing or broken wheel does.
    (tmp_path / "cv2.py").write_text('raise ImportError("no cv2 here", name="cv2")\n')
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = run_doctor(env={"PYTHONPATH": pythonpath})
    assert done.returncode == 1, done.stdout + done.stderr
    opencv_line = check_lines(done.stdout)["opencv"]
    assert opencv_line.startswith("FAIL")
    assert "cannot import cv2" in opencv_line
    assert 'fix: pip install "opencv-python-headless<5"' in opencv_line
    assert done.stdout.splitlines()[-1] == f"{len(CHECKS)} checks, 1 failed: opencv"


def test_doctor_runs_only_the_checks_asked_for() -> None:
    done = run_doctor("--check", "python", "--check", "core")
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(check_lines(done.stdout)) == ["python", "core"]
    assert done.stdout.splitlines()[-1] == "2 checks, 0 failed"


def test_opencv_5_without_calibrate_hand_eye_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cv2 = types.ModuleType("cv2")
    fake_cv2.__version__ = "5.0.0"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cv2", fake_cv2)
    result = doctor.check_opencv()
    assert not result.ok
    assert "5.0.0 lacks cv2.calibrateHandEye" in result.detail
    assert result.fix == 'pip install "opencv-python-headless<5"'


def test_a_missing_module_names_the_pip_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # None in sys.modules: ImportError
    result = doctor.check_onnxruntime()
    assert not result.ok
    assert "onnxruntime" in result.detail
    assert result.fix == "pip install onnxruntime"


def test_an_unusable_render_backend_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "nosuchbackend")
    result = doctor.check_mujoco_render()
    assert not result.ok
    assert "MUJOCO_GL=nosuchbackend" in result.detail
    assert "MUJOCO_GL=egl" in result.fix and "libegl1" in result.fix


def test_rclpy_without_any_rmw_library_names_the_rmw_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    # What rclpy reports when ros-kilted-rmw-fastrtps-cpp is not installed (seen in a bare venv).
    report = {
        "ok": False,
        "missing": "_rclpy_pybind11",
        "detail": "cannot import _rclpy_pybind11: librmw_fastrtps_cpp.so: cannot open shared object file",
    }
    monkeypatch.setattr(doctor, "run_probe", lambda probe, **kwargs: (report, ""))
    result = doctor.check_rclpy()
    assert not result.ok
    assert result.fix == "pip install ros-kilted-rmw-fastrtps-cpp"


def test_a_hung_probe_is_killed_and_reported() -> None:
    report, how = doctor.run_probe("rclpy", timeout_s=0.01)
    assert report is None
    assert "did not finish" in how and "hung" in how


def test_a_crashing_check_is_a_failure_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> CheckResult:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setitem(CHECKS, "python", broken)
    result = doctor.run_check("python")
    assert not result.ok
    assert result.detail == "check crashed: RuntimeError: boom second line"


def test_result_lines_and_summary() -> None:
    ok = CheckResult("torch", True, "2.13.0+cpu, CPU build")
    failed = CheckResult("opencv", False, "cannot import cv2", 'pip install "opencv-python-headless<5"')
    assert ok.line().startswith("OK    torch ")
    assert failed.line().startswith("FAIL  opencv ")
    assert failed.line().endswith('fix: pip install "opencv-python-headless<5"')
    assert "\n" not in failed.line()
    assert doctor.summary([ok, failed]) == "2 checks, 1 failed: opencv"
    assert doctor.summary([ok]) == "1 check, 0 failed"


@pytest.mark.parametrize("name", ["python", "core", "mujoco", "torch", "rosbags", "opencv", "onnxruntime"])
def test_in_process_checks_pass_here(name: str) -> None:
    result = CHECKS[name]()
    assert result.ok, result.line()
    assert result.name == name
