"""The MuJoCo model built from a RobotSpec: actuators per command interface, sensors, sites,
cameras, floor; physics values from the spec; an arm that reaches its targets; a base that rests
on the floor."""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from hardware import RobotSpec
from sim import (
    END_EFFECTOR_SITE,
    FLOATING_BASE_JOINT,
    FLOOR_GEOM,
    LASER_SITE,
    OVERVIEW_CAMERA,
    build_mujoco_model,
    joint_position_sensor,
    joint_velocity_sensor,
)
from tests.sim.helpers import ROBOTS_DIR, robot_spec, ur5e_variant, write_yaml

GAIN_FIXED = mujoco.mjtGain.mjGAIN_FIXED.value
BIAS_NONE = mujoco.mjtBias.mjBIAS_NONE.value
BIAS_AFFINE = mujoco.mjtBias.mjBIAS_AFFINE.value


def _actuator_joint(model: mujoco.MjModel, actuator: int) -> str:
    assert model.actuator_trntype[actuator] == mujoco.mjtTrn.mjTRN_JOINT.value
    return str(model.joint(model.actuator_trnid[actuator, 0]).name)


@pytest.mark.parametrize("interface", ["position", "velocity", "effort"])
def test_one_actuator_per_joint_of_the_interface_type(interface: str, tmp_path: Path) -> None:
    robot = ur5e_variant(tmp_path, command_interface=interface)
    model = build_mujoco_model(robot)
    assert model.nu == robot.dof
    for i, joint in enumerate(robot.joints):
        assert model.actuator(i).name == joint.name, "actuators follow the spec's joint order"
        assert _actuator_joint(model, i) == joint.name
        assert model.actuator_gaintype[i] == GAIN_FIXED
        gain, bias = model.actuator_gainprm[i, 0], model.actuator_biasprm[i, :3]
        kp, kv = robot.sim.kp[i], robot.sim.kv[i]
        if interface == "position":  # reference = activation, integrated from ctrl (rad/s)
            assert model.actuator_biastype[i] == BIAS_AFFINE
            assert model.actuator_dyntype[i] == mujoco.mjtDyn.mjDYN_INTEGRATOR
            np.testing.assert_array_equal([gain, *bias], [kp, 0.0, -kp, -kv])
            np.testing.assert_array_equal(model.actuator_actrange[i], [joint.lower, joint.upper])
            assert not model.actuator_ctrllimited[i]
            expected_ctrl = None
        elif interface == "velocity":
            assert model.actuator_biastype[i] == BIAS_AFFINE
            np.testing.assert_array_equal([gain, *bias], [kv, 0.0, 0.0, -kv])
            expected_ctrl = [-joint.max_velocity, joint.max_velocity]
        else:
            assert model.actuator_biastype[i] == BIAS_NONE
            assert gain == 1.0
            expected_ctrl = [-joint.max_effort, joint.max_effort]
        if expected_ctrl is not None:
            assert model.actuator_ctrllimited[i]
            np.testing.assert_array_equal(model.actuator_ctrlrange[i], expected_ctrl)
        assert model.actuator_forcelimited[i]
        np.testing.assert_array_equal(model.actuator_forcerange[i], [-joint.max_effort, joint.max_effort])


def test_physics_values_come_from_the_spec(tmp_path: Path) -> None:
    robot = ur5e_variant(
        tmp_path,
        sim={"timestep_s": 0.001, "damping": {"default": 0.25, "elbow_joint": 2.0},
             "armature": 0.125, "friction_loss": {"default": 0.0, "wrist_2_joint": 0.75}},
    )  # fmt: skip
    model = build_mujoco_model(robot)
    assert model.opt.timestep == 0.001
    dofs = [model.joint(name).dofadr[0] for name in robot.joint_names]
    np.testing.assert_array_equal(model.dof_damping[dofs], robot.sim.damping)
    np.testing.assert_array_equal(model.dof_armature[dofs], robot.sim.armature)
    np.testing.assert_array_equal(model.dof_frictionloss[dofs], robot.sim.friction_loss)
    assert model.dof_damping[dofs][2] == 2.0 and model.dof_frictionloss[dofs][4] == 0.75


def test_joint_sensors_read_the_joint_state(tmp_path: Path) -> None:
    robot = ur5e_variant(tmp_path)
    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(3)
    data.qpos[:] = rng.uniform(-1.0, 1.0, model.nq)
    data.qvel[:] = rng.uniform(-1.0, 1.0, model.nv)
    mujoco.mj_forward(model, data)
    assert model.nsensor == 2 * robot.dof
    for name in robot.joint_names:
        joint = model.joint(name)
        assert data.sensor(joint_position_sensor(name)).data[0] == data.qpos[joint.qposadr[0]]
        assert data.sensor(joint_velocity_sensor(name)).data[0] == data.qvel[joint.dofadr[0]]


def test_end_effector_site_is_at_the_end_effector_link_frame(tmp_path: Path) -> None:
    robot = ur5e_variant(tmp_path)
    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    data.qpos[:] = [0.3, -1.2, 1.0, -0.5, 0.7, 0.2]
    mujoco.mj_kinematics(model, data)
    site, link = model.site(END_EFFECTOR_SITE), model.body(robot.end_effector_link)
    assert site.bodyid[0] == link.id
    np.testing.assert_allclose(data.site(END_EFFECTOR_SITE).xpos, data.xpos[link.id], atol=1e-12)
    np.testing.assert_allclose(data.site(END_EFFECTOR_SITE).xmat, data.xmat[link.id], atol=1e-12)


def test_position_servo_reaches_targets_within_one_second(tmp_path: Path) -> None:
    """With robots/ur5e.yaml's gains but no gravity compensation, from the zero pose."""
    sim = yaml.safe_load((ROBOTS_DIR / "ur5e.yaml").read_text())["sim"]
    robot = ur5e_variant(tmp_path, sim={**sim, "gravity_compensation": False})
    model = build_mujoco_model(robot)
    targets = [
        [0.5, -1.0, 1.2, -0.5, 0.8, 0.3],  # arm raised: the shoulder lifts the whole arm
        [-1.2, -0.3, -0.8, 1.0, -1.5, -2.0],  # arm out, near horizontal: largest gravity load
        [2.0, -2.0, 2.0, -2.5, 1.5, 3.0],
    ]
    errors = []
    for target in targets:
        data = mujoco.MjData(model)
        data.act[:] = target  # the servo's reference jumps to the target and stays (ctrl = 0 rad/s)
        mujoco.mj_step(model, data, nstep=round(1.0 / model.opt.timestep))
        assert data.ncon == 0, "a target was chosen clear of the floor and of the arm itself"
        errors.append(np.abs(data.qpos - target).max())
    assert max(errors) < 0.02, f"joint errors after 1 s: {errors} rad"


def _burger_with_root_above_the_wheels(tmp_path: Path) -> RobotSpec:
    """burger.urdf with base_link 5 cm below base_footprint: the root frame is no longer on
    the ground (as in URDFs whose root is at the wheel axle), so the model must lift it."""
    urdf = (ROBOTS_DIR / "burger.urdf").read_text()
    assert urdf.count('xyz="0 0 0.010"') == 1  # base_joint's origin
    (tmp_path / "burger_raised.urdf").write_text(urdf.replace('xyz="0 0 0.010"', 'xyz="0 0 -0.050"'))
    data = yaml.safe_load((ROBOTS_DIR / "burger.yaml").read_text())
    data["urdf"] = str(tmp_path / "burger_raised.urdf")
    return RobotSpec.from_yaml(write_yaml(tmp_path / "burger_raised.yaml", data))


@pytest.mark.parametrize("variant", ["shipped", "root_above_wheels"])
def test_base_has_a_free_joint_and_rests_on_the_floor(variant: str, tmp_path: Path) -> None:
    if variant == "shipped":
        robot = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")
    else:
        robot = _burger_with_root_above_the_wheels(tmp_path)
    model = build_mujoco_model(robot)
    free = model.joint(FLOATING_BASE_JOINT)
    assert free.type[0] == mujoco.mjtJoint.mjJNT_FREE.value
    assert model.body(free.bodyid[0]).name == "base_footprint"  # the URDF root link

    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    root = free.bodyid[0]
    start = data.xpos[root].copy()
    mujoco.mj_step(model, data, nstep=round(0.5 / model.opt.timestep))
    late_heights = []
    for _ in range(round(0.5 / model.opt.timestep)):
        mujoco.mj_step(model, data)
        late_heights.append(data.xpos[root, 2])
    assert abs(start[2] - (0.0 if variant == "shipped" else 0.06)) < 1e-9, "lowest point at z = 0"
    assert np.ptp(late_heights) < 1e-5, "the base has settled: its height is stable"
    assert abs(late_heights[-1] - start[2]) < 1e-3, "it started on the floor: no fall, no jump"
    assert np.linalg.norm(data.xpos[root, :2] - start[:2]) < 1e-3, "and it does not creep"

    floor = model.geom(FLOOR_GEOM).id
    wheel_bodies = {model.body(name).id for name in ("wheel_left_link", "wheel_right_link")}
    touching = set()
    for contact in data.contact[: data.ncon]:
        pair = {contact.geom1, contact.geom2}
        if floor in pair:
            (other,) = pair - {floor}
            touching.add(int(model.geom_bodyid[other]))
    assert wheel_bodies <= touching, "both wheels touch the floor"


def test_base_wheels_have_velocity_actuators_and_a_laser_site() -> None:
    robot = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")
    model = build_mujoco_model(robot)
    assert robot.base is not None
    expected = [robot.base.left_wheel_joint, robot.base.right_wheel_joint]
    assert [_actuator_joint(model, i) for i in range(model.nu)] == expected
    for i, joint in enumerate(robot.joints):
        np.testing.assert_array_equal(
            [model.actuator_gainprm[i, 0], model.actuator_biasprm[i, 2]], [robot.sim.kv[i], -robot.sim.kv[i]]
        )
        np.testing.assert_array_equal(model.actuator_ctrlrange[i], [-joint.max_velocity, joint.max_velocity])
    assert robot.sensors.laser is not None
    assert model.site(LASER_SITE).bodyid[0] == model.body(robot.sensors.laser.link).id
    assert model.body(robot.sensors.laser.link).name == "base_scan"


def test_cameras_look_along_their_link_x_axis(tmp_path: Path) -> None:
    camera = {"name": "wrist", "link": "tool0", "width": 64, "height": 48, "fovy_deg": 50.0, "rate_hz": 10.0}
    robot = ur5e_variant(tmp_path, sensors={"cameras": [camera]})
    model = build_mujoco_model(robot)
    data = mujoco.MjData(model)
    data.qpos[:] = [0.3, -1.2, 1.0, -0.5, 0.7, 0.2]
    mujoco.mj_forward(model, data)  # camera poses come from mj_camlight, after kinematics
    cam = model.camera("wrist")
    assert cam.bodyid[0] == model.body("tool0").id
    assert cam.fovy[0] == 50.0
    np.testing.assert_array_equal(model.cam_resolution[cam.id], [64, 48])
    cam_axes = data.cam_xmat[cam.id].reshape(3, 3)  # columns: camera x, y, z in the world
    link_axes = data.xmat[model.body("tool0").id].reshape(3, 3)
    np.testing.assert_allclose(-cam_axes[:, 2], link_axes[:, 0], atol=1e-12)  # view = link +x
    np.testing.assert_allclose(cam_axes[:, 1], link_axes[:, 2], atol=1e-12)  # image up = link +z


@pytest.mark.parametrize("robot_name", ["ur5e", "burger", "panda"])
def test_scene_has_a_checkered_floor_a_light_and_an_overview_of_the_robot(robot_name: str, tmp_path: Path) -> None:
    model = build_mujoco_model(robot_spec(robot_name, tmp_path))
    floor = model.geom(FLOOR_GEOM)
    assert floor.type[0] == mujoco.mjtGeom.mjGEOM_PLANE.value and floor.bodyid[0] == 0
    texture = model.mat_texid[floor.matid[0], mujoco.mjtTextureRole.mjTEXROLE_RGB.value]
    assert texture >= 0
    assert model.nlight >= 1

    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    cam = model.camera(OVERVIEW_CAMERA)
    assert cam.bodyid[0] == 0, "fixed in the world"
    view = -data.cam_xmat[cam.id].reshape(3, 3)[:, 2]
    half_fov = math.radians(cam.fovy[0]) / 2
    for geom in np.flatnonzero(model.geom_bodyid != 0):  # every robot geom is in the picture
        to_geom = data.geom_xpos[geom] - data.cam_xpos[cam.id]
        angle = math.acos(np.clip(view @ to_geom / np.linalg.norm(to_geom), -1.0, 1.0))
        assert angle < half_fov, f"geom {geom} of {robot_name} is outside the overview"


def test_user_urdf_end_to_end_with_package_meshes(tmp_path: Path) -> None:
    """The pybullet_data Panda (package:// meshes, a mimic joint, massless links) from a user
    YAML: actuators on the 7 arm joints, its meshes loaded, every link a body."""
    robot = robot_spec("panda", tmp_path)
    model = build_mujoco_model(robot)
    assert [model.actuator(i).name for i in range(model.nu)] == list(robot.joint_names)
    mesh_geoms = np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_MESH.value)
    assert model.nmesh > 0 and mesh_geoms.size > 0
    collision_meshes = [g for g in mesh_geoms if model.geom_contype[g] or model.geom_conaffinity[g]]
    assert collision_meshes, "collision meshes are loaded, not only visual ones"
    assert model.site(END_EFFECTOR_SITE).bodyid[0] == model.body("panda_grasptarget").id
