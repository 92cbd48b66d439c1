"""Simulators: robots from their URDF in MuJoCo and PyBullet, tasks and Gymnasium environments.

- :class:`MujocoRobot`, :class:`PybulletRobot` (or :func:`make_robot` by backend name): the
  :class:`hardware.Robot` contract in simulation, with the world around the robot
  (:class:`WorldLayout`) and its physics (:class:`DynamicsParams`).
- ``import sim.envs`` registers ``sim2real/ArmReach-v0``, ``ArmPush-v0``, ``BaseNavigate-v0``
  and ``BaseExplore-v0`` with Gymnasium; tasks live in :mod:`sim.tasks`, domain randomization
  in :mod:`sim.randomization`, arm kinematics (end-effector commands) in :mod:`sim.kinematics`.
- :func:`mjspec_from_urdf`: any URDF as a ``mujoco.MjSpec`` (links are bodies of the same name).
- :func:`build_mujoco_spec` / :func:`build_mujoco_model`: a :class:`hardware.RobotSpec` as a
  simulation-ready MuJoCo model (actuators, sensors, sites, cameras, floor).
- :func:`load_pybullet`: the same URDF in PyBullet, as a :class:`PybulletBody`.
- :func:`link_pose` (MuJoCo) and :meth:`PybulletBody.link_pose`: URDF link frames, w x y z.
"""

from typing import TYPE_CHECKING, Any

from sim.backends import BACKENDS, make_robot
from sim.dynamics import DynamicsParams
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
from sim.mujoco_robot import MujocoRobot
from sim.mujoco_urdf import (
    FLOATING_BASE_JOINT,
    MUJOCO_MESH_FORMATS,
    MeshFormatWarning,
    joint_qpos_address,
    link_pose,
    mjspec_from_urdf,
    set_joint_positions,
)
from sim.world import Marker, Pose, SimWorld, WorldLayout, WorldObject

if TYPE_CHECKING:
    from sim.pybullet_model import BASE_LINK_INDEX, PybulletBody, load_pybullet
    from sim.pybullet_robot import PybulletRobot

_PYBULLET_NAMES = {
    "BASE_LINK_INDEX": "sim.pybullet_model",
    "PybulletBody": "sim.pybullet_model",
    "load_pybullet": "sim.pybullet_model",
    "PybulletRobot": "sim.pybullet_robot",
}


def __getattr__(name: str) -> Any:
    # PyBullet is imported on first use only: it prints its build time to stdout when imported,
    # and MuJoCo-only users should not pay for loading it.
    if name in _PYBULLET_NAMES:
        import importlib

        return getattr(importlib.import_module(_PYBULLET_NAMES[name]), name)
    raise AttributeError(f"module 'sim' has no attribute '{name}'")


__all__ = [
    "BACKENDS",
    "BASE_LINK_INDEX",
    "DynamicsParams",
    "Marker",
    "MujocoRobot",
    "Pose",
    "PybulletRobot",
    "SimWorld",
    "WorldLayout",
    "WorldObject",
    "make_robot",
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
