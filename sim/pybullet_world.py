"""The world around a PyBullet robot: floor, the objects and markers of a :class:`WorldLayout`,
cameras and the laser's rays.

Built from the same layout as MuJoCo's world (``sim.world``), with MuJoCo's sizes (half extents,
radius, half height) and poses (quaternions ``w, x, y, z``; PyBullet's own order is ``x, y, z,
w``, converted here and nowhere else).

Friction: PyBullet multiplies the two friction coefficients of a contact where MuJoCo takes the
larger. The floor has friction 1 (MuJoCo's default), so contacts with the floor agree for every
body of friction 1 or more (the robot's links, which get 1 unless their URDF ``<contact>`` block
says otherwise, and most objects); an object of friction ``f < 1`` slides on the floor with ``f``
here and with 1 in MuJoCo.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pybullet
from numpy.typing import ArrayLike, NDArray

from hardware.spec import CameraSpec, LaserSpec
from sim.world import Pose, WorldLayout, WorldObject, yaw_quaternion

FLOOR_FRICTION = 1.0  # MuJoCo's default sliding friction

# Cosmetic: the same framing as MuJoCo's overview camera (sim.mujoco_model).
_FLOOR_RGBA = (0.72, 0.75, 0.78, 1.0)
_FLOOR_HALF_EXTENT_M = 50.0
_OVERVIEW_AZIMUTH_DEG = 135.0
_OVERVIEW_ELEVATION_DEG = 25.0
_OVERVIEW_FOVY_DEG = 45.0
_OVERVIEW_MARGIN = 1.15
_NEAR_M, _FAR_M = 0.01, 50.0
_LIGHT_DIRECTION = (-0.3, -0.2, 1.0)  # towards the light, as MuJoCo's sun shines along (0.3, 0.2, -1)
_ALL_GROUPS = 0xFFFF  # Bullet's collision filter groups are 16 bits


def xyzw(quaternion_wxyz: ArrayLike) -> list[float]:
    """A ``w, x, y, z`` quaternion in PyBullet's ``x, y, z, w`` order."""
    w, x, y, z = np.asarray(quaternion_wxyz, dtype=np.float64)
    return [float(x), float(y), float(z), float(w)]


def wxyz(quaternion_xyzw: Iterable[float]) -> NDArray[np.float64]:
    """A PyBullet ``x, y, z, w`` quaternion in the ``w, x, y, z`` order of the API."""
    x, y, z, w = quaternion_xyzw
    return np.array([w, x, y, z], dtype=np.float64)


def urdf_lateral_friction(urdf_path: Path) -> dict[str, float]:
    """Link name -> sliding friction, for the links whose URDF has a PyBullet ``<contact>``
    block with a ``<lateral_friction>`` (e.g. a free-rolling ball caster with 0)."""
    friction = {}
    for link in ET.parse(urdf_path).getroot().findall("link"):
        element = link.find("contact/lateral_friction")
        if element is not None and element.get("value") is not None:
            friction[link.get("name", "")] = float(element.get("value", ""))
    return friction


def add_floor(client: int) -> int:
    """An infinite static plane at z = 0 (no ``pybullet_data`` needed), friction 1; its body id."""
    collision = pybullet.createCollisionShape(pybullet.GEOM_PLANE, physicsClientId=client)
    # The tiny renderer draws no plane shape; a thin box stands in for it in pictures.
    visual = pybullet.createVisualShape(
        pybullet.GEOM_BOX,
        halfExtents=[_FLOOR_HALF_EXTENT_M, _FLOOR_HALF_EXTENT_M, 0.0005],
        visualFramePosition=[0.0, 0.0, -0.0005],
        rgbaColor=_FLOOR_RGBA,
        physicsClientId=client,
    )
    floor = pybullet.createMultiBody(0.0, collision, visual, physicsClientId=client)
    pybullet.changeDynamics(floor, -1, lateralFriction=FLOOR_FRICTION, physicsClientId=client)
    return floor


class PybulletWorld:
    """The layout's objects and markers as PyBullet bodies.

    :param layout: what to build. :param client: the physics client.
    """

    def __init__(self, layout: WorldLayout, client: int) -> None:
        self.layout = layout
        self._client = client
        self.objects: dict[str, int] = {o.name: self._add_object(o) for o in layout.objects}
        self.markers: dict[str, int] = {}
        for marker in layout.markers:
            visual = pybullet.createVisualShape(
                pybullet.GEOM_SPHERE, radius=marker.radius_m, rgbaColor=marker.rgba, physicsClientId=client
            )
            self.markers[marker.name] = pybullet.createMultiBody(
                0.0, -1, visual, basePosition=marker.position, physicsClientId=client
            )
        self._mass = {name: self._dynamics(body)[0] for name, body in self.objects.items()}
        self._inertia = {name: self._dynamics(body)[2] for name, body in self.objects.items()}

    def _dynamics(self, body: int) -> tuple:  # type: ignore[type-arg]
        return pybullet.getDynamicsInfo(body, -1, physicsClientId=self._client)

    def _add_object(self, obj: WorldObject) -> int:
        client = self._client
        if obj.shape == "box":
            shape: dict[str, object] = {"halfExtents": list(obj.size)}
            kind = pybullet.GEOM_BOX
        elif obj.shape == "sphere":
            shape, kind = {"radius": obj.size[0]}, pybullet.GEOM_SPHERE
        elif obj.shape == "cylinder":
            radius, half_height = obj.size
            shape, kind = {"radius": radius, "height": 2 * half_height}, pybullet.GEOM_CYLINDER
        else:
            raise ValueError(f"world object '{obj.name}' has shape '{obj.shape}'; use box, sphere or cylinder")
        collision = pybullet.createCollisionShape(kind, physicsClientId=client, **shape)  # type: ignore[arg-type]
        visual_shape = {("length" if k == "height" else k): v for k, v in shape.items()}
        visual = pybullet.createVisualShape(kind, rgbaColor=obj.rgba, physicsClientId=client, **visual_shape)  # type: ignore[arg-type]
        body = pybullet.createMultiBody(
            obj.mass_kg,  # 0: static
            collision,
            visual,
            basePosition=obj.position,
            baseOrientation=xyzw(yaw_quaternion(obj.yaw_rad)),
            physicsClientId=client,
        )
        # PyBullet damps every body's motion by default; MuJoCo does not.
        pybullet.changeDynamics(
            body, -1, lateralFriction=obj.friction, linearDamping=0.0, angularDamping=0.0, physicsClientId=client
        )
        return body

    def reset(self) -> None:
        """Every object and marker back at its layout pose, at rest."""
        for obj in self.layout.objects:
            self.place(obj.name, obj.position, obj.yaw_rad)
        for marker in self.layout.markers:
            self.set_marker(marker.name, marker.position)

    def object_body(self, name: str) -> int:
        """PyBullet body id of an object. :raises KeyError: no such object (the message lists them)."""
        if name not in self.objects:
            raise KeyError(f"no object '{name}' in the world; objects: {list(self.objects)}")
        return self.objects[name]

    def pose(self, name: str) -> Pose:
        position, orientation = pybullet.getBasePositionAndOrientation(
            self.object_body(name), physicsClientId=self._client
        )
        return Pose(np.array(position, dtype=np.float64), wxyz(orientation))

    def place(self, name: str, position: ArrayLike, yaw_rad: float = 0.0) -> None:
        """Teleport an object to ``position`` (m), turned ``yaw_rad`` about z, at rest."""
        body = self.object_body(name)
        xyz = np.asarray(position, dtype=np.float64).reshape(-1)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)) or not math.isfinite(yaw_rad):
            raise ValueError(
                f"object '{name}' needs a finite position x, y, z (m) and yaw, got {position!r}, {yaw_rad}"
            )
        client = self._client
        pybullet.resetBasePositionAndOrientation(
            body, xyz.tolist(), xyzw(yaw_quaternion(yaw_rad)), physicsClientId=client
        )
        pybullet.resetBaseVelocity(body, [0.0] * 3, [0.0] * 3, physicsClientId=client)

    def set_marker(self, name: str, position: ArrayLike) -> None:
        if name not in self.markers:
            raise KeyError(f"no marker '{name}' in the world; markers: {list(self.markers)}")
        xyz = np.asarray(position, dtype=np.float64).reshape(-1)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
            raise ValueError(f"marker '{name}' needs a finite position x, y, z (m), got {position!r}")
        pybullet.resetBasePositionAndOrientation(
            self.markers[name], xyz.tolist(), [0.0, 0.0, 0.0, 1.0], physicsClientId=self._client
        )

    def scale_dynamics(self, friction_scale: float, mass_scale: dict[str, float]) -> None:
        """Objects' friction times ``friction_scale``; mass and inertia of named objects scaled."""
        client = self._client
        for obj in self.layout.objects:
            body = self.objects[obj.name]
            pybullet.changeDynamics(body, -1, lateralFriction=obj.friction * friction_scale, physicsClientId=client)
            if obj.movable:
                scale = mass_scale.get(obj.name, 1.0)
                inertia = [scale * value for value in self._inertia[obj.name]]
                pybullet.changeDynamics(
                    body, -1, mass=self._mass[obj.name] * scale, localInertiaDiagonal=inertia, physicsClientId=client
                )


def lowest_point_z(client: int, body: int) -> float:
    """Lowest world z of a body's collision shapes (exact for spheres, boxes, cylinders and
    capsules; the bounding box for meshes); 0 if it has none."""
    lowest = math.inf
    links = range(-1, pybullet.getNumJoints(body, physicsClientId=client))
    for link in links:
        for shape in pybullet.getCollisionShapeData(body, link, physicsClientId=client):
            lowest = min(lowest, _shape_lowest_z(client, body, link, shape))
    return 0.0 if math.isinf(lowest) else lowest


def _shape_lowest_z(client: int, body: int, link: int, shape: tuple) -> float:  # type: ignore[type-arg]
    kind, dimensions, local_position, local_xyzw = shape[2], shape[3], shape[5], shape[6]
    if link == -1:
        # Base shapes are given in the base's inertial frame (getBasePositionAndOrientation).
        frame_position, frame_xyzw = pybullet.getBasePositionAndOrientation(body, physicsClientId=client)
    else:  # link shapes: in the link's inertial (centre of mass) frame
        frame_position, frame_xyzw = pybullet.getLinkState(body, link, physicsClientId=client)[:2]
    center, xyzw_ = pybullet.multiplyTransforms(frame_position, frame_xyzw, local_position, local_xyzw)
    rotation = np.asarray(pybullet.getMatrixFromQuaternion(xyzw_)).reshape(3, 3)
    down = rotation.T @ np.array([0.0, 0.0, -1.0])  # in the shape frame
    if kind == pybullet.GEOM_SPHERE:
        reach = dimensions[0]
    elif kind == pybullet.GEOM_BOX:
        reach = float(np.abs(down) @ (np.asarray(dimensions) / 2))  # dimensions are full extents
    elif kind in (pybullet.GEOM_CYLINDER, pybullet.GEOM_CAPSULE):
        length, radius = dimensions[0], dimensions[1]  # cylinder axis: shape z
        if kind == pybullet.GEOM_CYLINDER:
            reach = radius * math.hypot(down[0], down[1]) + length / 2 * abs(down[2])
        else:
            reach = radius + length / 2 * abs(down[2])
    else:
        aabb_min, _ = pybullet.getAABB(body, link, physicsClientId=client)
        return float(aabb_min[2])
    return float(center[2] - reach)


def cast_laser(
    client: int,
    origin: NDArray[np.float64],
    quaternion_wxyz: NDArray[np.float64],
    laser: LaserSpec,
    *,
    skip_group: int = 0,
) -> NDArray[np.float64]:
    """Distances (m) along the beams of a planar scan from a laser at ``origin`` turned
    ``quaternion_wxyz``; ``inf`` where a beam hits nothing within ``laser.range_max_m``.

    Beam ``i`` leaves the origin along ``laser.angles_rad[i]`` in the laser frame's xy plane.
    Bodies whose collision-filter group is ``skip_group`` (the robot carrying the laser) are
    passed through, so the robot's body around the laser never blocks a beam; markers have no
    collision shape and are never seen. The caller applies ``range_min``.
    """
    rotation = np.asarray(pybullet.getMatrixFromQuaternion(xyzw(quaternion_wxyz))).reshape(3, 3)
    angles = laser.angles_rad
    directions = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1) @ rotation.T
    ends = origin + laser.range_max_m * directions
    starts = np.broadcast_to(origin, ends.shape)
    hits = pybullet.rayTestBatch(
        starts.tolist(), ends.tolist(), collisionFilterMask=~skip_group & _ALL_GROUPS, physicsClientId=client
    )
    fraction = np.array([hit[2] if hit[0] >= 0 else np.inf for hit in hits])  # hit[0]: body id, -1 = none
    return fraction * laser.range_max_m


def overview_camera(client: int, bodies: Iterable[int]) -> tuple[list[float], float]:
    """View matrix and vertical field of view (deg) of a fixed camera that frames ``bodies``
    (their bounding boxes as they are now), seen from the front left like MuJoCo's overview."""
    lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
    for body in bodies:
        for link in range(-1, pybullet.getNumJoints(body, physicsClientId=client)):
            aabb_min, aabb_max = pybullet.getAABB(body, link, physicsClientId=client)
            lower, upper = np.minimum(lower, aabb_min), np.maximum(upper, aabb_max)
    if not np.all(np.isfinite(lower)):
        lower, upper = np.full(3, -0.1), np.full(3, 0.1)
    center = (lower + upper) / 2
    radius = max(float(np.linalg.norm(upper - lower)) / 2, 0.05)
    distance = _OVERVIEW_MARGIN * radius / math.sin(math.radians(_OVERVIEW_FOVY_DEG) / 2)
    azimuth, elevation = math.radians(_OVERVIEW_AZIMUTH_DEG), math.radians(_OVERVIEW_ELEVATION_DEG)
    toward_camera = np.array([
        math.cos(elevation) * math.cos(azimuth),
        math.cos(elevation) * math.sin(azimuth),
        math.sin(elevation),
    ])  # fmt: skip
    eye = center + distance * toward_camera
    view = pybullet.computeViewMatrix(eye.tolist(), center.tolist(), [0.0, 0.0, 1.0], physicsClientId=client)
    return list(view), _OVERVIEW_FOVY_DEG


def link_camera(
    client: int, position: NDArray[np.float64], quaternion_wxyz: NDArray[np.float64], camera: CameraSpec
) -> tuple[list[float], float]:
    """View matrix and field of view (deg) of a camera on a link: it looks along the link's +x
    with the link's +z up (ROS convention)."""
    rotation = np.asarray(pybullet.getMatrixFromQuaternion(xyzw(quaternion_wxyz))).reshape(3, 3)
    forward, up = rotation[:, 0], rotation[:, 2]
    view = pybullet.computeViewMatrix(
        position.tolist(), (position + forward).tolist(), up.tolist(), physicsClientId=client
    )
    return list(view), camera.fovy_deg


def render_rgb(client: int, view: list[float], fovy_deg: float, width: int, height: int) -> NDArray[np.uint8]:
    """An RGB image (height x width x 3) from the CPU renderer (no GL needed)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"render needs a positive width and height in pixels, got {width} x {height}")
    projection = pybullet.computeProjectionMatrixFOV(fovy_deg, width / height, _NEAR_M, _FAR_M, physicsClientId=client)
    _, _, rgba, _, _ = pybullet.getCameraImage(
        width,
        height,
        viewMatrix=view,
        projectionMatrix=projection,
        renderer=pybullet.ER_TINY_RENDERER,
        lightDirection=list(_LIGHT_DIRECTION),
        shadow=0,
        physicsClientId=client,
    )
    return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()
