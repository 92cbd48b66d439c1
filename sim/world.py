"""What surrounds a simulated robot, written once as data and built in either simulator.

A :class:`WorldLayout` is a list of primitive shapes (:class:`WorldObject`: tables, maze walls,
a block to push) and goal markers (:class:`Marker`: visual only, no collision). ``MujocoRobot``
and ``PybulletRobot`` both take a layout and build the same world from it, which is what makes
the sim-to-sim comparison fair.

The sim robots also implement :class:`SimWorld`, the small interface through which tasks do the
sim-only things (place objects, move markers, read ground truth). Tasks never touch a simulator
any other way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

ShapeKind = Literal["box", "sphere", "cylinder"]


def yaw_quaternion(yaw_rad: float) -> NDArray[np.float64]:
    """Unit quaternion ``w, x, y, z`` of a rotation by ``yaw_rad`` about z (:attr:`Pose.yaw_rad` inverts it)."""
    return np.array([math.cos(yaw_rad / 2), 0.0, 0.0, math.sin(yaw_rad / 2)])


@dataclass(frozen=True)
class Pose:
    """A rigid pose in the world frame: position, m, and unit quaternion ``w, x, y, z``."""

    position: NDArray[np.float64]
    quaternion: NDArray[np.float64]

    @property
    def yaw_rad(self) -> float:
        """Heading about world z, rad (for planar things: a base, a block on a table)."""
        w, x, y, z = self.quaternion
        return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


@dataclass(frozen=True)
class WorldObject:
    """A primitive rigid body.

    :param name: unique name; the MuJoCo body and geom, and the key of ``object_pose``.
    :param shape: ``box`` (``size`` = half extents x, y, z), ``sphere`` (radius,) or
        ``cylinder`` (radius, half height), as MuJoCo sizes them.
    :param position: centre in the world frame, m (the pose it returns to on ``reset``).
    :param yaw_rad: rotation about world z, rad.
    :param mass_kg: 0 for a fixed (static) object; otherwise the body moves freely.
    :param friction: sliding friction coefficient.
    :param rgba: colour, 0 to 1.
    """

    name: str
    shape: ShapeKind
    size: tuple[float, ...]
    position: tuple[float, float, float]
    yaw_rad: float = 0.0
    mass_kg: float = 0.0
    friction: float = 1.0
    rgba: tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)

    @property
    def movable(self) -> bool:
        return self.mass_kg > 0


@dataclass(frozen=True)
class Marker:
    """A visual-only sphere (a goal, a target): seen in renders, never collides, never in a scan.

    :param name: unique name; move it with ``set_marker``.
    :param radius_m: sphere radius, m.
    :param position: start position, m.
    :param rgba: colour, 0 to 1.
    """

    name: str
    radius_m: float = 0.02
    position: tuple[float, float, float] = (0.0, 0.0, -1.0)
    rgba: tuple[float, float, float, float] = (0.1, 0.8, 0.2, 0.6)


@dataclass(frozen=True)
class WorldLayout:
    """Objects and markers around the robot. An empty layout is just the floor."""

    objects: tuple[WorldObject, ...] = ()
    markers: tuple[Marker, ...] = ()

    def __post_init__(self) -> None:
        names = [o.name for o in self.objects] + [m.name for m in self.markers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"world layout names must be unique; repeated: {duplicates}")

    def object(self, name: str) -> WorldObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object '{name}' in the world; objects: {[o.name for o in self.objects]}")


@runtime_checkable
class SimWorld(Protocol):
    """Sim-only access that tasks need; implemented by ``MujocoRobot`` and ``PybulletRobot``."""

    @property
    def layout(self) -> WorldLayout: ...

    def object_pose(self, name: str) -> Pose:
        """Ground-truth pose of a world object."""
        ...

    def set_object_pose(self, name: str, position: ArrayLike, yaw_rad: float = 0.0) -> None:
        """Place a movable object (at rest) at ``position``, m, turned ``yaw_rad`` about z."""
        ...

    def set_marker(self, name: str, position: ArrayLike) -> None:
        """Move a marker to ``position``, m."""
        ...

    def base_pose(self) -> Pose:
        """Ground-truth pose of a base's root link (bases only; odometry may drift from it)."""
        ...

    def set_base_pose(self, x_m: float, y_m: float, yaw_rad: float = 0.0) -> None:
        """Put a base at rest on the floor at ``(x_m, y_m)``, heading ``yaw_rad``; odometry restarts there."""
        ...

    def render(self, width: int = 480, height: int = 360, camera: str | None = None) -> NDArray[np.uint8]:
        """An RGB image, ``height x width x 3``; ``camera=None`` is the world overview."""
        ...
