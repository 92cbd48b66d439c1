"""Any URDF into MuJoCo: an ``mujoco.MjSpec`` whose bodies are the URDF's links.

MuJoCo reads URDF itself; this module prepares the file so that the result keeps the URDF's
structure: meshes found the way ROS finds them (``package://``, relative, absolute), every link a
body of the same name (fixed-joint links too, nothing fused), body frames equal to the URDF link
frames, and visual geoms kept (group 1, no contacts; collision geoms are group 0). The robot
layer (actuators, sensors, floor) is added by :mod:`sim.mujoco_model`.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.errors import UrdfError
from hardware.urdf import load_urdf, urdf_with_absolute_mesh_paths

#: Mesh file suffixes MuJoCo 4.0 has decoders for (case-insensitive). COLLADA (.dae), PLY, glTF
#: and others are not among them.
MUJOCO_MESH_FORMATS: tuple[str, ...] = (".stl", ".obj", ".msh")

#: Name of the free joint that ``floating_base=True`` adds to the root body.
FLOATING_BASE_JOINT = "floating_base"

# <mujoco><compiler .../></mujoco> settings that keep the URDF's structure (see the module doc).
_COMPILER = {
    "strippath": "false",  # keep the absolute mesh paths (MuJoCo strips folders by default)
    "fusestatic": "false",  # keep fixed-joint links as bodies of their own
    "discardvisual": "false",  # keep <visual> geoms for rendering
    "balanceinertia": "true",  # accept inertia tensors that violate the triangle inequality
}


class MeshFormatWarning(UserWarning):
    """A visual mesh was dropped because MuJoCo cannot read its file format."""


def mjspec_from_urdf(
    urdf_path: Path | str,
    *,
    search_path: Iterable[Path | str] = (),
    floating_base: bool = False,
) -> mujoco.MjSpec:
    """Load any URDF into an ``MjSpec`` whose body names and frames are the URDF's links.

    Visual meshes in a format MuJoCo cannot read are dropped with a :class:`MeshFormatWarning`
    that names them; contacts between the two links of each movable joint are excluded, as in
    URDF tools (PyBullet, Gazebo), which MuJoCo does not do for links fixed to the world; a
    link's ``<contact>`` friction (the PyBullet extension) becomes its collision geoms' friction.

    :param urdf_path: the ``.urdf`` file (xacro expanded).
    :param search_path: extra folders for ``package://`` and relative meshes, searched first
        (see ``hardware.urdf.mesh_search_path`` for the rest).
    :param floating_base: add a free joint (:data:`FLOATING_BASE_JOINT`) to the root body, for
        mobile bases; otherwise the root link is fixed at the world origin.
    :raises MeshNotFoundError: a mesh file is missing; the message names it.
    :raises UrdfError: the URDF is malformed, a collision mesh is in a format MuJoCo cannot read,
        or MuJoCo rejects the model.
    """
    urdf_path = Path(urdf_path)
    urdf = load_urdf(urdf_path)
    root = ET.fromstring(urdf_with_absolute_mesh_paths(urdf_path, search_path=search_path))
    _drop_unreadable_meshes(root, urdf_path)
    _set_compiler_options(root)
    try:
        spec = mujoco.MjSpec.from_string(ET.tostring(root, encoding="unicode"))
    except ValueError as err:
        raise UrdfError(urdf_path, f"MuJoCo cannot load it: {err}".replace("\n", " ")) from err

    _apply_contact_friction(spec, root)
    for joint in urdf.joints:
        # A URDF link named 'world' is MuJoCo's world body: excluding it would drop floor contacts.
        if joint.movable and joint.parent != "world":
            spec.add_exclude(bodyname1=joint.parent, bodyname2=joint.child)
    if floating_base:
        body = spec.body(urdf.root_link)
        if body is None or urdf.root_link == "world":
            raise UrdfError(
                urdf_path,
                f"root link '{urdf.root_link}' is the world, so the robot cannot have a floating "
                "base; remove the 'world' link and its joint for a mobile base",
            )
        body.add_freejoint(name=FLOATING_BASE_JOINT)
    return spec


def _drop_unreadable_meshes(robot: ET.Element, urdf_path: Path) -> None:
    """Remove visuals whose mesh MuJoCo cannot decode; fail on such collision meshes."""
    dropped: list[str] = []
    for link in robot.findall("link"):
        for tag in ("collision", "visual"):
            for element in link.findall(tag):
                mesh = element.find("geometry/mesh")
                filename = mesh.get("filename", "") if mesh is not None else ""
                suffix = Path(filename).suffix
                if mesh is None or suffix.lower() in MUJOCO_MESH_FORMATS:
                    continue
                if tag == "collision":
                    raise UrdfError(
                        urdf_path,
                        f"collision mesh {filename} is {suffix}, which MuJoCo cannot read; convert it to .stl or .obj",
                    )
                link.remove(element)
                dropped.append(f"{link.get('name')}: {filename}")
    if dropped:
        warnings.warn(
            f"{urdf_path}: MuJoCo cannot read these visual meshes (it reads "
            f"{', '.join(MUJOCO_MESH_FORMATS)}), so they are not shown: {'; '.join(dropped)}",
            MeshFormatWarning,
            stacklevel=3,
        )


def _apply_contact_friction(spec: mujoco.MjSpec, robot: ET.Element) -> None:
    """Give collision geoms the friction of their link's ``<contact>`` block, if it has one.

    PyBullet reads ``<contact><lateral_friction value/><spinning_friction/><rolling_friction/>``
    inside a ``<link>`` (e.g. a free-rolling ball caster with 0); MuJoCo's URDF reader ignores
    it. The geoms get ``priority`` 1 so that their friction (and contact dimension), not the
    larger of the pair (MuJoCo's default), is used against the floor and other geoms.
    """
    for link in robot.findall("link"):
        contact = link.find("contact")
        body = spec.body(link.get("name", ""))
        if contact is None or body is None:
            continue
        friction: dict[int, float] = {}  # MuJoCo's friction is [sliding, torsional, rolling]
        for index, tag in enumerate(("lateral_friction", "spinning_friction", "rolling_friction")):
            element = contact.find(tag)
            if element is not None and element.get("value") is not None:
                friction[index] = float(element.get("value", ""))
        for geom in body.geoms:
            if friction and (geom.contype or geom.conaffinity):
                for index, value in friction.items():
                    geom.friction[index] = value
                if friction.get(0) == 0.0:
                    # Frictionless: a normal force only. A zero-width friction pyramid instead
                    # makes a resting TurtleBot's ball caster chatter under implicitfast.
                    geom.condim = 1
                geom.priority = 1


def _set_compiler_options(robot: ET.Element) -> None:
    """Add ``<mujoco><compiler .../></mujoco>``, overriding those keys in any existing one."""
    extension = robot.find("mujoco")
    if extension is None:
        extension = ET.SubElement(robot, "mujoco")
    compiler = extension.find("compiler")
    if compiler is None:
        compiler = ET.SubElement(extension, "compiler")
    for key, value in _COMPILER.items():
        compiler.set(key, value)


def link_pose(
    model: mujoco.MjModel, data: mujoco.MjData, link_name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """World pose of a URDF link's frame: position (3,), m, and quaternion (4,), w x y z.

    Reads ``data.xpos`` / ``data.xquat`` as last computed: call ``mujoco.mj_kinematics`` (or
    ``mj_forward``, ``mj_step``) after changing ``qpos``.

    :raises KeyError: there is no body called ``link_name``.
    """
    body_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, link_name)
    if body_id < 0:
        raise KeyError(f"link '{link_name}' is not a body of the MuJoCo model")
    return data.xpos[body_id].copy(), data.xquat[body_id].copy()


def set_joint_positions(model: mujoco.MjModel, data: mujoco.MjData, names: Sequence[str], q: ArrayLike) -> None:
    """Write one-degree-of-freedom joint positions (rad, m) into ``data.qpos``, by joint name.

    Kinematics are not recomputed; call ``mujoco.mj_kinematics`` before reading poses.

    :raises KeyError: a name is not a hinge or slide joint of the model.
    :raises ValueError: ``q`` does not have one value per name.
    """
    values = np.asarray(q, dtype=np.float64).reshape(-1)
    if values.shape != (len(names),):
        raise ValueError(f"got {values.size} positions for {len(names)} joints {list(names)}")
    for name, value in zip(names, values, strict=True):
        data.qpos[joint_qpos_address(model, name)] = value


def joint_qpos_address(model: mujoco.MjModel, name: str) -> int:
    """Index into ``qpos`` of a hinge or slide joint.

    :raises KeyError: the joint does not exist or has more than one degree of freedom.
    """
    joint_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint_id < 0:
        raise KeyError(f"joint '{name}' is not in the MuJoCo model")
    if model.jnt_type[joint_id] not in (mujoco.mjtJoint.mjJNT_HINGE.value, mujoco.mjtJoint.mjJNT_SLIDE.value):
        raise KeyError(f"joint '{name}' is not a one-degree-of-freedom (hinge or slide) joint")
    return int(model.jnt_qposadr[joint_id])
