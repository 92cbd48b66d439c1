"""MuJoCo and PyBullet load the same URDF into the same kinematics: every link's frame agrees at
random configurations, for our robots and for a URDF we did not write (the pybullet_data Panda).

Both are also checked against forward kinematics computed in float64 from the URDF's numbers
(``helpers.urdf_forward_kinematics``): MuJoCo matches it to rounding; PyBullet parses URDF
numbers in single precision, which is why the cross-simulator tolerance is 1e-6 and not less.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from hardware.urdf import load_urdf
from sim import FLOATING_BASE_JOINT, build_mujoco_model, link_pose, load_pybullet, set_joint_positions
from tests.sim.helpers import quaternion_angle, robot_spec, urdf_forward_kinematics

CONFIGURATIONS = 100
TOLERANCE = 1e-6  # m, and rad for orientations
REFERENCE_TOLERANCE = 1e-9  # MuJoCo against the float64 URDF reference


@pytest.mark.parametrize("robot_name", ["ur5e", "burger", "panda"])
def test_every_link_frame_agrees(robot_name: str, tmp_path: Path, pybullet_client: int) -> None:
    robot = robot_spec(robot_name, tmp_path)
    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    body = load_pybullet(robot, pybullet_client, fixed_base=True)
    urdf = load_urdf(robot.urdf_path)
    if robot.kind == "base":  # the MuJoCo base floats: put its root at the origin, as PyBullet's
        address = model.jnt_qposadr[model.joint(FLOATING_BASE_JOINT).id]
        data.qpos[address : address + 7] = [0, 0, 0, 1, 0, 0, 0]

    mujoco_bodies = {model.body(i).name for i in range(1, model.nbody)}
    assert set(urdf.links) <= mujoco_bodies | {"world"}, "every URDF link is a MuJoCo body"
    assert set(urdf.links) == set(body.link_index), "every URDF link is a PyBullet link"

    # All movable joints, the uncommanded ones too (Panda fingers, mimic joint included).
    joints = [joint for joint in urdf.joints if joint.movable]
    names = [joint.name for joint in joints]
    lower = np.array([-np.pi if j.type == "continuous" else j.lower for j in joints])
    upper = np.array([np.pi if j.type == "continuous" else j.upper for j in joints])
    rng = np.random.default_rng(20240611)

    position_error = angle_error = reference_error = largest_turn = 0.0
    first_quats: dict[str, np.ndarray] = {}
    for _ in range(CONFIGURATIONS):
        q = rng.uniform(lower, upper)
        set_joint_positions(model, data, names, q)
        mujoco.mj_kinematics(model, data)
        body.set_joint_positions(names, q)
        reference = urdf_forward_kinematics(urdf, dict(zip(names, q, strict=True)))
        for link in urdf.links:
            mj_position, mj_quat = link_pose(model, data, link)
            pb_position, pb_quat = body.link_pose(link)
            position_error = max(position_error, float(np.linalg.norm(mj_position - pb_position)))
            angle_error = max(angle_error, quaternion_angle(mj_quat, pb_quat))
            mj_rotation = np.zeros(9)
            mujoco.mju_quat2Mat(mj_rotation, mj_quat)
            reference_error = max(
                reference_error,
                float(np.linalg.norm(mj_position - reference[link][:3, 3])),
                float(np.abs(mj_rotation.reshape(3, 3) - reference[link][:3, :3]).max()),
            )
            largest_turn = max(largest_turn, quaternion_angle(first_quats.setdefault(link, mj_quat), mj_quat))

    np.testing.assert_allclose(body.joint_positions(names), q, rtol=0, atol=1e-12)
    assert position_error < TOLERANCE, f"{robot_name}: link positions differ by {position_error} m"
    assert angle_error < TOLERANCE, f"{robot_name}: link orientations differ by {angle_error} rad"
    assert reference_error < REFERENCE_TOLERANCE, f"{robot_name}: MuJoCo vs URDF {reference_error}"
    # The configurations really moved the links (a no-op set_joint_positions would pass above).
    assert largest_turn > 1.0


def test_pybullet_root_pose_is_the_link_frame_not_the_centre_of_mass(tmp_path: Path, pybullet_client: int) -> None:
    """The Panda's root link has its centre of mass 5 cm above its frame; PyBullet's base pose
    is the centre of mass, ``link_pose`` must return the frame (at the origin)."""
    body = load_pybullet(robot_spec("panda", tmp_path), pybullet_client)
    position, quat = body.link_pose("panda_link0")
    assert body.link_index["panda_link0"] == -1
    np.testing.assert_allclose(position, 0.0, atol=1e-12)
    np.testing.assert_allclose(quat, [1.0, 0.0, 0.0, 0.0], atol=1e-12)
