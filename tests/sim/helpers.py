"""Helpers for the simulator tests: the shipped robots, the Franka Panda from ``pybullet_data``
(a URDF we did not write, with ``package://`` meshes), quaternion distance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pybullet_data
import yaml
from numpy.typing import NDArray

from hardware import RobotSpec
from hardware.urdf import UrdfModel
from sim.parity import quaternion_angle  # noqa: F401  (re-exported for the tests)

ROBOTS_DIR = Path(__file__).resolve().parents[2] / "robots"
PANDA_URDF = Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
PANDA_ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def ur5e_variant(tmp_path: Path, **changes: Any) -> RobotSpec:
    """robots/ur5e.yaml with ``changes`` applied, its URDF named by absolute path."""
    data = yaml.safe_load((ROBOTS_DIR / "ur5e.yaml").read_text())
    data["urdf"] = str(ROBOTS_DIR / "ur5e.urdf")
    data.update(changes)
    return RobotSpec.from_yaml(write_yaml(tmp_path / "ur5e_variant.yaml", data))


def panda_yaml(tmp_path: Path) -> Path:
    """A user's robot YAML for the pybullet_data Panda: the URDF stays where pip put it."""
    return write_yaml(
        tmp_path / "panda.yaml",
        {
            "name": "panda",
            "urdf": str(PANDA_URDF),  # absolute: the YAML lives elsewhere
            "kind": "arm",
            "command_interface": "position",
            "control_rate_hz": 100.0,
            "joints": PANDA_ARM_JOINTS,
            "end_effector_link": "panda_grasptarget",
            # Franka's datasheet: 15, 7.5, 10, 12.5, 15, 20, 20 rad/s².
            "limits": {"acceleration": {"default": 10.0, "panda_joint1": 15.0}},
        },
    )


def robot_spec(name: str, tmp_path: Path) -> RobotSpec:
    """A shipped robot by name, or ``"panda"`` (the pybullet_data Panda through a user YAML)."""
    if name == "panda":
        return RobotSpec.from_yaml(panda_yaml(tmp_path))
    return RobotSpec.from_yaml(ROBOTS_DIR / f"{name}.yaml")


def _rotation_rpy(roll: float, pitch: float, yaw: float) -> NDArray[np.float64]:
    """URDF's fixed-axis roll, pitch, yaw: Rz(yaw) Ry(pitch) Rx(roll)."""
    cr, sr, cp, sp, cy, sy = (f(a) for a in (roll, pitch, yaw) for f in (np.cos, np.sin))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _rotation_axis_angle(axis: NDArray[np.float64], angle: float) -> NDArray[np.float64]:
    """Rodrigues' formula; ``axis`` is a unit vector."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def urdf_forward_kinematics(urdf: UrdfModel, q: dict[str, float]) -> dict[str, NDArray[np.float64]]:
    """World 4x4 pose of every link, computed in float64 from the URDF's numbers alone: an
    independent reference for both simulators (root link at the origin)."""
    poses = {urdf.root_link: np.eye(4)}
    pending = list(urdf.joints)
    while pending:
        for joint in [j for j in pending if j.parent in poses]:
            origin = np.eye(4)
            origin[:3, :3] = _rotation_rpy(*joint.origin_rpy)
            origin[:3, 3] = joint.origin_xyz
            motion = np.eye(4)
            if joint.movable:
                axis = np.array(joint.axis) / np.linalg.norm(joint.axis)
                if joint.type == "prismatic":
                    motion[:3, 3] = axis * q[joint.name]
                else:
                    motion[:3, :3] = _rotation_axis_angle(axis, q[joint.name])
            poses[joint.child] = poses[joint.parent] @ origin @ motion
            pending.remove(joint)
    return poses
