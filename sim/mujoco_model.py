"""A robot's MuJoCo model, built from its :class:`~hardware.RobotSpec`: URDF plus actuators,
sensors, sites, cameras and a floor.

Names in the model, so that code above can find things without knowing the robot:

- bodies: the URDF's link names (see :mod:`sim.mujoco_urdf`);
- actuators: one per commanded joint, named after the joint, in spec joint order;
- sensors: ``<joint>_pos`` and ``<joint>_vel`` per commanded joint (rad, rad/s);
- sites: :data:`END_EFFECTOR_SITE` at an arm's end-effector link, :data:`LASER_SITE` at a
  base's laser link (both at the link frame);
- cameras: the spec's cameras by name, and the fixed :data:`OVERVIEW_CAMERA`;
- the floor: the plane geom :data:`FLOOR_GEOM` at z = 0.

Physical values (gains, damping, limits, timestep) come only from the spec; the numbers written
here are cosmetic (colours, light, camera framing).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import NDArray

from hardware.errors import UrdfError
from hardware.spec import CameraSpec, RobotSpec
from sim.mujoco_urdf import FLOATING_BASE_JOINT, mjspec_from_urdf

END_EFFECTOR_SITE = "end_effector"
LASER_SITE = "laser"
OVERVIEW_CAMERA = "overview"
FLOOR_GEOM = "floor"

# Cosmetic choices: floor look, overview viewing direction and margin.
_FLOOR_RGB = ((0.82, 0.84, 0.86), (0.62, 0.65, 0.68))
_FLOOR_TILE_M = 0.25  # size of one checker square
_OVERVIEW_AZIMUTH_DEG = 135.0  # seen from the front left (x forward, y left)
_OVERVIEW_ELEVATION_DEG = 25.0
_OVERVIEW_FOVY_DEG = 45.0
_OVERVIEW_MARGIN = 1.15

# A camera in MuJoCo looks along its -z axis with +y up; a camera link in the ROS convention
# looks along +x with +z up. Camera axes written in the link frame: x = -y_link (image right),
# y = +z_link (image up), z = -x_link (behind the camera).
_LINK_FROM_CAMERA = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def joint_position_sensor(joint: str) -> str:
    """Name of the joint-position sensor of ``joint`` (rad, m)."""
    return f"{joint}_pos"


def joint_velocity_sensor(joint: str) -> str:
    """Name of the joint-velocity sensor of ``joint`` (rad/s, m/s)."""
    return f"{joint}_vel"


def build_mujoco_spec(robot: RobotSpec, *, search_path: Iterable[Path | str] = ()) -> mujoco.MjSpec:
    """The robot's URDF as an ``MjSpec`` with everything a simulation of it needs.

    Arms are fixed at the world origin; bases get a free joint and start resting on the floor
    (their lowest collision point at z = 0), at the URDF's zero configuration.

    :param robot: the robot contract; ``robot.sim`` gives the physics values.
    :param search_path: extra folders for the URDF's meshes (see :func:`sim.mjspec_from_urdf`).
    :raises MeshNotFoundError, UrdfError: as :func:`sim.mjspec_from_urdf`; ``UrdfError`` also
        when MuJoCo cannot compile the model.
    """
    spec = mjspec_from_urdf(robot.urdf_path, search_path=search_path, floating_base=robot.kind == "base")
    spec.modelname = robot.name
    spec.option.timestep = robot.sim.timestep_s
    # The servos' velocity gains (kv) are stiff next to a light joint's inertia: the explicit
    # Euler integrator rings at kv * timestep / inertia > 2 (a UR5e wrist at kv 50, 2 ms);
    # implicitfast integrates them implicitly and stays stable.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    _add_joint_dynamics(spec, robot)
    _add_actuators(spec, robot)
    _add_joint_sensors(spec, robot)
    if robot.end_effector_link is not None:
        _add_site(spec, END_EFFECTOR_SITE, robot.end_effector_link)
    if robot.sensors.laser is not None:
        _add_site(spec, LASER_SITE, robot.sensors.laser.link)
    for camera in robot.sensors.cameras:
        _add_link_camera(spec, camera)
    _add_floor_and_light(spec)
    if robot.kind == "base":
        _rest_on_floor(spec, robot.urdf_path)
    _add_overview_camera(spec, robot.urdf_path)
    return spec


def build_mujoco_model(robot: RobotSpec, *, search_path: Iterable[Path | str] = ()) -> mujoco.MjModel:
    """:func:`build_mujoco_spec`, compiled."""
    return build_mujoco_spec(robot, search_path=search_path).compile()


def _add_joint_dynamics(spec: mujoco.MjSpec, robot: RobotSpec) -> None:
    """Damping, armature, dry friction and gravity compensation of the joints, from ``robot.sim``."""
    sim = robot.sim
    for i, name in enumerate(robot.joint_names):
        joint = spec.joint(name)
        joint.damping[0] = sim.damping[i]  # [0] is the linear coefficient, N·m·s/rad
        joint.armature = sim.armature[i]
        joint.frictionloss = sim.friction_loss[i]
        # The joint's actuator, not a force from nowhere, carries the gravity-cancelling torque,
        # so it counts against the joint's effort limit as on a real arm.
        joint.actgravcomp = sim.gravity_compensation
    if sim.gravity_compensation:
        for body in spec.bodies:
            if body.name != "world":
                body.gravcomp = 1.0


def _add_actuators(spec: mujoco.MjSpec, robot: RobotSpec) -> None:
    """One actuator per commanded joint, named after it, in spec order.

    position: a servo ``kp (ref - q) - kv qdot`` whose reference ``ref`` is the actuator's
    activation, integrated from ``ctrl`` (rad/s: MuJoCo's ``intvelocity``) and limited to the
    joint's range. The simulated joint controller (``sim.MujocoRobot``) sets the reference at
    the start of each control period and ``ctrl`` to the speed that reaches the next target at
    its end, so MuJoCo interpolates streamed targets inside ``mj_step``, as a real arm's
    controller does, with no Python per physics step.
    velocity and twist (wheels): a velocity servo (kv), targets within ±max_velocity;
    effort: a motor, commands within ±max_effort. Forces are capped at ±max_effort.
    """
    sim = robot.sim
    for i, joint in enumerate(robot.joints):
        actuator = spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        ctrl_range: tuple[float, float] | None
        if robot.command_interface == "position":
            actuator.set_to_intvelocity(kp=sim.kp[i], kv=sim.kv[i])
            if math.isfinite(joint.lower) and math.isfinite(joint.upper):
                actuator.actlimited = mujoco.mjtLimited.mjLIMITED_TRUE
                actuator.actrange = (joint.lower, joint.upper)
            else:
                actuator.actlimited = mujoco.mjtLimited.mjLIMITED_FALSE
            ctrl_range = None  # the reference's speed: bounded by the safety layer, not here
        elif robot.command_interface in ("velocity", "twist"):
            actuator.set_to_velocity(kv=sim.kv[i])
            ctrl_range = (-joint.max_velocity, joint.max_velocity)
        else:
            actuator.set_to_motor()
            ctrl_range = (-joint.max_effort, joint.max_effort)
        if ctrl_range is not None and all(math.isfinite(v) for v in ctrl_range):
            actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            actuator.ctrlrange = ctrl_range
        else:
            actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
        if math.isfinite(joint.max_effort):
            actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            actuator.forcerange = (-joint.max_effort, joint.max_effort)


def _add_joint_sensors(spec: mujoco.MjSpec, robot: RobotSpec) -> None:
    for name in robot.joint_names:
        for sensor_name, kind in (
            (joint_position_sensor(name), mujoco.mjtSensor.mjSENS_JOINTPOS),
            (joint_velocity_sensor(name), mujoco.mjtSensor.mjSENS_JOINTVEL),
        ):
            spec.add_sensor(name=sensor_name, type=kind, objtype=mujoco.mjtObj.mjOBJ_JOINT, objname=name)


def _add_site(spec: mujoco.MjSpec, name: str, link: str) -> None:
    """A site at the frame of ``link``."""
    spec.body(link).add_site(name=name, size=[0.01, 0.0, 0.0], rgba=[1.0, 0.5, 0.0, 0.5], group=4)


def _add_link_camera(spec: mujoco.MjSpec, camera: CameraSpec) -> None:
    """The spec's camera at its link's frame, looking along the link's +x (ROS convention)."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, _LINK_FROM_CAMERA.reshape(-1))
    spec.body(camera.link).add_camera(
        name=camera.name,
        quat=quat,
        fovy=camera.fovy_deg,
        resolution=[camera.width, camera.height],
    )


def _add_floor_and_light(spec: mujoco.MjSpec) -> None:
    spec.add_texture(
        name="sim2real_floor",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        width=512,
        height=512,
        rgb1=_FLOOR_RGB[0],
        rgb2=_FLOOR_RGB[1],
    )
    material = spec.add_material(name="sim2real_floor", texrepeat=[0.5 / _FLOOR_TILE_M] * 2)
    material.texuniform = True
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "sim2real_floor"
    spec.worldbody.add_geom(
        name=FLOOR_GEOM,
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[0.0, 0.0, 0.05],  # 0: infinite; 0.05: grid spacing when rendered as wireframe
        material="sim2real_floor",
    )
    spec.worldbody.add_light(
        name="sim2real_sun",
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        pos=[0.0, 0.0, 3.0],
        dir=[0.3, 0.2, -1.0],
        diffuse=[0.8, 0.8, 0.8],
        # Shadows from software EGL (Mesa) speckle the floor with shadow acne; clean pictures win.
        castshadow=False,
    )


def _rest_on_floor(spec: mujoco.MjSpec, urdf_path: Path) -> None:
    """Lift the floating root so that the lowest collision point touches the floor."""
    model, data = _start_state(spec, urdf_path)
    collides = (model.geom_contype | model.geom_conaffinity) != 0
    collides &= model.geom_bodyid != 0  # the floor and other world geoms
    lowest = min((_lowest_z(model, data, int(g)) for g in np.flatnonzero(collides)), default=0.0)
    root = spec.joint(FLOATING_BASE_JOINT).parent
    root.pos[2] -= lowest


def _start_state(spec: mujoco.MjSpec, urdf_path: Path) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """The spec compiled as it stands, with kinematics at its start configuration (qpos0).

    :raises UrdfError: MuJoCo rejects the model (e.g. a moving link without mass).
    """
    with warnings.catch_warnings():  # the same mesh warnings come again from the final compile
        warnings.simplefilter("ignore")
        try:
            model = spec.compile()
        except ValueError as err:
            problem = str(err).replace("\n", "; ")
            raise UrdfError(urdf_path, f"MuJoCo cannot compile it: {problem}") from err
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return model, data


def _lowest_z(model: mujoco.MjModel, data: mujoco.MjData, geom: int) -> float:
    """Lowest world z of a geom (exact for primitives and meshes)."""
    down = data.geom_xmat[geom].reshape(3, 3).T @ np.array([0.0, 0.0, -1.0])  # in geom frame
    size = model.geom_size[geom]
    kind = int(model.geom_type[geom])
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        reach = size[0]
    elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        reach = size[0] + size[1] * abs(down[2])
    elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        reach = size[0] * math.hypot(down[0], down[1]) + size[1] * abs(down[2])
    elif kind == mujoco.mjtGeom.mjGEOM_BOX:
        reach = float(np.abs(down) @ size)
    elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        reach = float(np.linalg.norm(size * down))
    elif kind == mujoco.mjtGeom.mjGEOM_MESH:
        mesh = model.geom_dataid[geom]
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        reach = float(np.max(model.mesh_vert[start : start + count] @ down))
    else:  # planes, height fields: fall back to the bounding box
        center, half = model.geom_aabb[geom, :3], model.geom_aabb[geom, 3:]
        reach = float(center @ down + np.abs(down) @ half)
    return float(data.geom_xpos[geom][2] - reach)


def _add_overview_camera(spec: mujoco.MjSpec, urdf_path: Path) -> None:
    """A fixed world camera that frames the robot's geoms at the start configuration."""
    model, data = _start_state(spec, urdf_path)
    robot_geoms = np.flatnonzero(model.geom_bodyid != 0)
    lower, upper = _bounds(model, data, robot_geoms)
    center = (lower + upper) / 2
    radius = max(float(np.linalg.norm(upper - lower)) / 2, 0.05)
    distance = _OVERVIEW_MARGIN * radius / math.sin(math.radians(_OVERVIEW_FOVY_DEG) / 2)
    azimuth, elevation = map(math.radians, (_OVERVIEW_AZIMUTH_DEG, _OVERVIEW_ELEVATION_DEG))
    toward_camera = np.array([
        math.cos(elevation) * math.cos(azimuth),
        math.cos(elevation) * math.sin(azimuth),
        math.sin(elevation),
    ])  # fmt: skip
    right = np.cross(-toward_camera, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(toward_camera, right)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([right, up, toward_camera]).reshape(-1))
    spec.worldbody.add_camera(
        name=OVERVIEW_CAMERA, pos=center + distance * toward_camera, quat=quat, fovy=_OVERVIEW_FOVY_DEG
    )


def _bounds(
    model: mujoco.MjModel, data: mujoco.MjData, geoms: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """World axis-aligned bounds of the geoms' bounding boxes; a small box at 0 if none."""
    if geoms.size == 0:
        return np.full(3, -0.1), np.full(3, 0.1)
    corners = []
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    for g in geoms:
        box_center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
        local = box_center + signs * half
        rotation = data.geom_xmat[g].reshape(3, 3)
        corners.append(local @ rotation.T + data.geom_xpos[g])
    points = np.concatenate(corners)
    return points.min(axis=0), points.max(axis=0)
