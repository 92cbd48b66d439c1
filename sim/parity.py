"""Do MuJoCo and PyBullet agree on a robot? Link frames compared at random configurations.

The same URDF loaded into both simulators must give the same kinematics (``DESIGN.md``: both
simulators and the real robot share one kinematic model). PyBullet reads URDF numbers in single
precision, so agreement is to about 1e-7 m, not to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from numpy.typing import NDArray

from hardware import RobotSpec
from hardware.urdf import load_urdf
from sim.mujoco_model import build_mujoco_model
from sim.mujoco_urdf import FLOATING_BASE_JOINT, link_pose, set_joint_positions


@dataclass(frozen=True)
class KinematicParity:
    """Largest disagreement over all links and configurations.

    :param position_error_m: largest distance between the two simulators' link origins, m.
    :param angle_error_rad: largest rotation between the two simulators' link frames, rad.
    :param links: how many links were compared. :param configurations: at how many poses.
    """

    position_error_m: float
    angle_error_rad: float
    links: int
    configurations: int


def quaternion_angle(q1: NDArray[np.float64], q2: NDArray[np.float64]) -> float:
    """Angle (rad) of the rotation between two unit quaternions (w x y z), sign-insensitive.

    Computed as 2 atan2(|v|, |w|) of q1* q2, which is accurate near zero (arccos is not).
    """
    w1, v1 = q1[0], q1[1:]
    w2, v2 = q2[0], q2[1:]
    w = w1 * w2 + v1 @ v2
    v = w1 * v2 - w2 * v1 - np.cross(v1, v2)
    return float(2.0 * np.arctan2(np.linalg.norm(v), abs(w)))


def kinematic_parity(robot: RobotSpec, *, configurations: int = 100, seed: int = 0) -> KinematicParity:
    """Compare every URDF link frame in MuJoCo and PyBullet at random joint positions.

    All movable joints are sampled, the uncommanded ones too; continuous joints in [-pi, pi].
    A mobile base is compared with its root fixed at the origin in both.
    """
    import pybullet

    from sim.pybullet_model import load_pybullet

    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    if robot.kind == "base":
        address = model.jnt_qposadr[model.joint(FLOATING_BASE_JOINT).id]
        data.qpos[address : address + 7] = [0, 0, 0, 1, 0, 0, 0]
    urdf = load_urdf(robot.urdf_path)
    joints = [joint for joint in urdf.joints if joint.movable]
    names = [joint.name for joint in joints]
    lower = np.array([-np.pi if j.type == "continuous" else j.lower for j in joints], dtype=np.float64)
    upper = np.array([np.pi if j.type == "continuous" else j.upper for j in joints], dtype=np.float64)
    rng = np.random.default_rng(seed)
    client = pybullet.connect(pybullet.DIRECT)
    try:
        body = load_pybullet(robot, client, fixed_base=True)
        position_error = angle_error = 0.0
        for _ in range(configurations):
            q = rng.uniform(lower, upper)
            set_joint_positions(model, data, names, q)
            mujoco.mj_kinematics(model, data)
            body.set_joint_positions(names, q)
            for link in urdf.links:
                mj_position, mj_quat = link_pose(model, data, link)
                pb_position, pb_quat = body.link_pose(link)
                position_error = max(position_error, float(np.linalg.norm(mj_position - pb_position)))
                angle_error = max(angle_error, quaternion_angle(mj_quat, pb_quat))
    finally:
        pybullet.disconnect(client)
    return KinematicParity(position_error, angle_error, len(urdf.links), configurations)
