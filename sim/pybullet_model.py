"""Any URDF into PyBullet, with the same mesh resolution as MuJoCo's, and its link frames.

PyBullet reports a link's centre of mass unless asked for the link frame, and numbers links by
joint index; :class:`PybulletBody` maps URDF names to indices and returns URDF link frames, so
that code above compares poses with MuJoCo's without knowing these details.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet
from numpy.typing import ArrayLike, NDArray

from hardware.errors import UrdfError
from hardware.spec import RobotSpec
from hardware.urdf import urdf_with_absolute_mesh_paths

#: The link index PyBullet gives the root link (the base).
BASE_LINK_INDEX = -1

_MOVABLE = (pybullet.JOINT_REVOLUTE, pybullet.JOINT_PRISMATIC)


@dataclass(frozen=True)
class PybulletBody:
    """A URDF loaded into a PyBullet client.

    :param client_id: the physics client the body lives in.
    :param body_id: PyBullet's unique id of the body.
    :param joint_index: URDF joint name -> PyBullet joint index (fixed joints included).
    :param link_index: URDF link name -> PyBullet link index; the root link is
        :data:`BASE_LINK_INDEX` (-1).
    :param root_link: the URDF's root link.
    """

    client_id: int
    body_id: int
    joint_index: Mapping[str, int]
    link_index: Mapping[str, int]
    root_link: str

    def set_joint_positions(self, names: Sequence[str], q: ArrayLike) -> None:
        """Teleport one-degree-of-freedom joints to positions ``q`` (rad, m), velocity zero.

        :raises KeyError: a name is not a revolute, continuous or prismatic joint of the body.
        :raises ValueError: ``q`` does not have one value per name.
        """
        values = np.asarray(q, dtype=np.float64).reshape(-1)
        if values.shape != (len(names),):
            raise ValueError(f"got {values.size} positions for {len(names)} joints {list(names)}")
        for name, value in zip(names, values, strict=True):
            index = self._movable_joint(name)
            pybullet.resetJointState(self.body_id, index, float(value), 0.0, physicsClientId=self.client_id)

    def joint_positions(self, names: Sequence[str]) -> NDArray[np.float64]:
        """Positions (rad, m) of one-degree-of-freedom joints, in the order of ``names``."""
        return np.array([
            pybullet.getJointState(self.body_id, self._movable_joint(n), physicsClientId=self.client_id)[0]
            for n in names
        ])  # fmt: skip

    def link_pose(self, link_name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """World pose of a URDF link's frame (not its centre of mass): position (3,), m, and
        quaternion (4,), w x y z (MuJoCo's order; PyBullet's own is x y z w).

        :raises KeyError: the body has no link called ``link_name``.
        """
        if link_name not in self.link_index:
            raise KeyError(f"link '{link_name}' is not a link of the body (links: {list(self.link_index)})")
        index = self.link_index[link_name]
        client = self.client_id
        if index == BASE_LINK_INDEX:
            # The base reports its centre of mass; undo the inertial frame's offset.
            com_pos, com_xyzw = pybullet.getBasePositionAndOrientation(self.body_id, physicsClientId=client)
            inertial_pos, inertial_xyzw = pybullet.getDynamicsInfo(self.body_id, -1, physicsClientId=client)[3:5]
            to_link_pos, to_link_xyzw = pybullet.invertTransform(inertial_pos, inertial_xyzw)
            position, xyzw = pybullet.multiplyTransforms(com_pos, com_xyzw, to_link_pos, to_link_xyzw)
        else:
            state = pybullet.getLinkState(self.body_id, index, computeForwardKinematics=True, physicsClientId=client)
            position, xyzw = state[4], state[5]  # worldLinkFramePosition, worldLinkFrameOrientation
        x, y, z, w = xyzw
        return np.array(position, dtype=np.float64), np.array([w, x, y, z], dtype=np.float64)

    def _movable_joint(self, name: str) -> int:
        index = self.joint_index.get(name)
        if index is None:
            raise KeyError(f"joint '{name}' is not a joint of the body (joints: {list(self.joint_index)})")
        kind = pybullet.getJointInfo(self.body_id, index, physicsClientId=self.client_id)[2]
        if kind not in _MOVABLE:
            raise KeyError(f"joint '{name}' is fixed in PyBullet; only movable joints have positions")
        return index


def load_pybullet(
    urdf_path_or_spec: Path | str | RobotSpec,
    client_id: int,
    *,
    search_path: Iterable[Path | str] = (),
    fixed_base: bool | None = None,
) -> PybulletBody:
    """Load a URDF into a PyBullet client, its meshes resolved like MuJoCo's.

    The URDF is read with its own inertias (``URDF_USE_INERTIA_FROM_FILE``), its root link frame
    at the world origin.

    :param urdf_path_or_spec: a ``.urdf`` file, or a robot contract whose URDF to load.
    :param client_id: from ``pybullet.connect``.
    :param search_path: extra folders for ``package://`` and relative meshes.
    :param fixed_base: fix the root link to the world; default: for a spec, arms are fixed and
        bases free; a bare URDF is fixed.
    :raises MeshNotFoundError: a mesh is missing; :raises UrdfError: PyBullet cannot load it.
    """
    if isinstance(urdf_path_or_spec, RobotSpec):
        urdf_path = urdf_path_or_spec.urdf_path
        fixed = urdf_path_or_spec.kind == "arm" if fixed_base is None else fixed_base
    else:
        urdf_path = Path(urdf_path_or_spec)
        fixed = True if fixed_base is None else fixed_base
    text = urdf_with_absolute_mesh_paths(urdf_path, search_path=search_path)
    # loadURDF reads files only; the meshes are absolute, so the copy may live anywhere.
    handle, temp_path = tempfile.mkstemp(prefix=f"{urdf_path.stem}_", suffix=".urdf")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        body_id = pybullet.loadURDF(
            temp_path,
            useFixedBase=fixed,
            # Implicit cylinders: without them URDF cylinders (wheels) become convex meshes with a
            # 2 mm collision margin, and a base rests 2 mm up, pitched 0.56 degrees.
            flags=pybullet.URDF_USE_INERTIA_FROM_FILE | pybullet.URDF_USE_IMPLICIT_CYLINDER,
            physicsClientId=client_id,
        )
    except pybullet.error as err:
        raise UrdfError(urdf_path, f"PyBullet cannot load it ({err})") from err
    finally:
        os.unlink(temp_path)

    joint_index: dict[str, int] = {}
    link_index: dict[str, int] = {}
    root_link = pybullet.getBodyInfo(body_id, physicsClientId=client_id)[0].decode()
    link_index[root_link] = BASE_LINK_INDEX
    for index in range(pybullet.getNumJoints(body_id, physicsClientId=client_id)):
        info = pybullet.getJointInfo(body_id, index, physicsClientId=client_id)
        joint_index[info[1].decode()] = index
        link_index[info[12].decode()] = index
    return PybulletBody(client_id, body_id, joint_index, link_index, root_link)
