"""Simulators: robots from their URDF in MuJoCo and PyBullet.

- :func:`mjspec_from_urdf`: any URDF as a ``mujoco.MjSpec`` (links are bodies of the same name).
- :func:`build_mujoco_spec` / :func:`build_mujoco_model`: a :class:`hardware.RobotSpec` as a
  simulation-ready MuJoCo model (actuators, sensors, sites, cameras, floor).
- :func:`load_pybullet`: the same URDF in PyBullet, as a :class:`PybulletBody`.
- :func:`link_pose` (MuJoCo) and :meth:`PybulletBody.link_pose`: URDF link frames, w x y z.
"""

from typing import TYPE_CHECKING, Any

from sim.mujoco_model import (
    END_EFFECTOR_SITE,
    FLOOR_GEOM,
    LASER_SITE,
    OVERVIEW_CAMERA,
    build_mujoco_model,
    build_mujoco_spec,
    joint_position_sensor,
    joint_velocity_sensor,
)
from sim.mujoco_urdf import (
    FLOATING_BASE_JOINT,
    MUJOCO_MESH_FORMATS,
    MeshFormatWarning,
    joint_qpos_address,
    link_pose,
    mjspec_from_urdf,
    set_joint_positions,
)

if TYPE_CHECKING:
    from sim.pybullet_model import BASE_LINK_INDEX, PybulletBody, load_pybullet

_PYBULLET_NAMES = ("BASE_LINK_INDEX", "PybulletBody", "load_pybullet")


def __getattr__(name: str) -> Any:
    # PyBullet is imported on first use only: it prints its build time to stdout when imported,
    # and MuJoCo-only users should not pay for loading it.
    if name in _PYBULLET_NAMES:
        from sim import pybullet_model

        return getattr(pybullet_model, name)
    raise AttributeError(f"module 'sim' has no attribute '{name}'")


__all__ = [
    "BASE_LINK_INDEX",
    "END_EFFECTOR_SITE",
    "FLOATING_BASE_JOINT",
    "FLOOR_GEOM",
    "LASER_SITE",
    "MUJOCO_MESH_FORMATS",
    "OVERVIEW_CAMERA",
    "MeshFormatWarning",
    "PybulletBody",
    "build_mujoco_model",
    "build_mujoco_spec",
    "joint_position_sensor",
    "joint_qpos_address",
    "joint_velocity_sensor",
    "link_pose",
    "load_pybullet",
    "mjspec_from_urdf",
    "set_joint_positions",
]
