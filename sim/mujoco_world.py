"""A :class:`~sim.world.WorldLayout` built into a MuJoCo model, and the overview that frames it.

Geom groups, so that sensors and renders can tell things apart: collision geoms of the robot and
the world's objects are group 0 (what a laser sees), the robot's visual geoms group 1, markers
group 2 (rendered, never collide, never seen by the laser).
"""

from __future__ import annotations

import mujoco
import numpy as np

from sim.world import Marker, WorldLayout, WorldObject, yaw_quaternion

COLLISION_GROUP = 0
MARKER_GROUP = 2

_GEOM_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
}
_SIZE_COUNT = {"box": 3, "sphere": 1, "cylinder": 2}


def add_world(spec: mujoco.MjSpec, layout: WorldLayout) -> None:
    """Add the layout's objects (bodies named as the objects) and markers (mocap bodies)."""
    for obj in layout.objects:
        _add_object(spec, obj)
    for marker in layout.markers:
        _add_marker(spec, marker)


def _add_object(spec: mujoco.MjSpec, obj: WorldObject) -> None:
    if obj.shape not in _GEOM_TYPES:
        raise ValueError(f"world object '{obj.name}' has shape '{obj.shape}'; use box, sphere or cylinder")
    if len(obj.size) != _SIZE_COUNT[obj.shape]:
        raise ValueError(
            f"world object '{obj.name}' ({obj.shape}) needs {_SIZE_COUNT[obj.shape]} size values, got {obj.size}"
        )
    body = spec.worldbody.add_body(name=obj.name, pos=list(obj.position), quat=yaw_quaternion(obj.yaw_rad))
    if obj.movable:
        body.add_freejoint(name=obj.name)
    geom = body.add_geom(
        name=obj.name,
        type=_GEOM_TYPES[obj.shape],
        size=list(obj.size) + [0.0] * (3 - len(obj.size)),
        rgba=list(obj.rgba),
        friction=[obj.friction, 0.005, 0.0001],
        group=COLLISION_GROUP,
    )
    if obj.movable:
        geom.mass = obj.mass_kg


def _add_marker(spec: mujoco.MjSpec, marker: Marker) -> None:
    body = spec.worldbody.add_body(name=marker.name, pos=list(marker.position), mocap=True)
    body.add_geom(
        name=marker.name,
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[marker.radius_m, 0.0, 0.0],
        rgba=list(marker.rgba),
        contype=0,
        conaffinity=0,
        group=MARKER_GROUP,
    )


def scene_camera(model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjvCamera:
    """A free camera that frames every body's geoms (robot and world) from the front left."""
    geoms = np.flatnonzero((model.geom_bodyid != 0) | (model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE))
    geoms = geoms[model.geom_type[geoms] != mujoco.mjtGeom.mjGEOM_PLANE]
    centers = data.geom_xpos[geoms]
    radius = np.max(model.geom_rbound[geoms]) if geoms.size else 0.1
    lower, upper = centers.min(axis=0) - radius, centers.max(axis=0) + radius
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.lookat[:] = (lower + upper) / 2
    camera.distance = 0.8 * float(np.linalg.norm(upper - lower))
    camera.azimuth = 135.0
    camera.elevation = -55.0
    return camera
