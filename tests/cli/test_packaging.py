"""The installed `sim2real` distribution: core requirements, extras, entry point, packages."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import distribution

import pytest

DIST = distribution("sim2real")


def requirements(extra: str | None) -> set[str]:
    """Names of the distributions ``extra`` adds (``None``: the core requirements)."""
    names = set()
    for requirement in DIST.requires or []:
        marker = re.search(r'extra == "([^"]+)"', requirement)
        if (marker.group(1) if marker else None) == extra:
            names.add(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower())
    return names


def test_core_is_numpy_and_pyyaml_only() -> None:
    # hardware must install on a robot computer without torch, MuJoCo or PyBullet.
    assert requirements(None) == {"numpy", "pyyaml"}


def test_deploy_is_onnxruntime_the_task_code_and_the_ros_extra() -> None:
    assert requirements("deploy") == {"onnxruntime", "gymnasium", "mujoco"} | requirements("ros")
    assert not any(req.startswith(("torch", "pybullet", "stable-baselines3")) for req in requirements("deploy"))
    assert "ros-kilted-rmw-fastrtps-cpp" in requirements("ros")  # rclpy fails to import without an RMW


def test_all_is_every_extra_but_dev() -> None:
    extras = {"sim", "train", "ros", "deploy", "episodes", "calibration"}
    assert requirements("all") == set().union(*(requirements(extra) for extra in extras))
    assert not requirements("dev") & requirements("all")


def test_pins_that_matter_here() -> None:
    requires = " ".join(DIST.requires or [])
    assert "torch==2.13.0" in requires  # the local CPU wheel
    assert "opencv-python-headless<5" in requires  # 5.0 lacks calibrateHandEye
    assert "pybullet==3.2.7" in requires


def test_console_script() -> None:
    (script,) = [ep for ep in DIST.entry_points if ep.group == "console_scripts"]
    assert (script.name, script.value) == ("sim2real", "sim2real.cli:main")


@pytest.mark.parametrize(
    "package", ["hardware", "sim", "policies", "episodes", "calibration", "sim2real", "robots", "sim2real_ros"]
)
def test_top_level_packages_import(package: str) -> None:
    importlib.import_module(package)
