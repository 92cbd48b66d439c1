"""``PybulletRobot``: a :class:`hardware.Robot` simulated in PyBullet, in lock-step.

The same API and behaviour as :class:`sim.mujoco_robot.MujocoRobot` (the sim robot API both
implement, with :class:`sim.world.SimWorld`): each :meth:`PybulletRobot.write` applies a command
(after the action delay) and advances the physics by one control period (``substeps`` steps of
``spec.sim.timestep_s``); the robot is raw, :class:`hardware.safety.SafeRobot` goes in front.

How the contract's actuators become PyBullet motors (and how kp / kv map to PyBullet's gains) is
:mod:`sim.pybullet_actuators`; the floor, objects, markers, cameras and laser rays are
:mod:`sim.pybullet_world`. Armature has no PyBullet counterpart: it shapes the simulated joint
controller's response (so joints move as in MuJoCo) but contacts see the links without it.

Arms are fixed at the world origin; a base is free, resting on the floor (its lowest collision
point at z = 0), reports wheel odometry (``sim.diff_drive.WheelOdometry``: what the wheels
turned, slip and drift included) and a planar laser scan cast with ``rayTestBatch`` at the
laser's own rate. ``reset`` restores a snapshot taken after building (``saveState``: contact
caches included), so the same seed gives bit-identical runs.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pybullet
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import LaserScan, RobotState
from sim.diff_drive import WheelOdometry, wheel_speeds
from sim.dynamics import DynamicsParams
from sim.pybullet_actuators import JointDrive
from sim.pybullet_model import load_pybullet
from sim.pybullet_world import (
    FLOOR_FRICTION,
    PybulletWorld,
    add_floor,
    cast_laser,
    link_camera,
    lowest_point_z,
    overview_camera,
    render_rgb,
    urdf_lateral_friction,
    xyzw,
)
from sim.sim_robot import accept_command, hold_command, laser_scan, measured_state, start_position
from sim.world import Pose, WorldLayout, yaw_quaternion

GRAVITY_MPS2 = -9.81
#: Collision-filter group of a laser-carrying robot's links; its rays skip this group, so the
#: scan never sees the robot itself (MuJoCo's ray excludes the laser's body the same way).
ROBOT_COLLISION_GROUP = 0x40


class PybulletRobot:
    """A robot (and the world around it) in PyBullet.

    :param spec: the robot's contract; its ``sim`` section gives the physics.
    :param world: objects and markers around the robot.
    :param dynamics: physics parameters (domain randomization); nominal when ``None``.
    :param search_path: extra folders for the URDF's meshes.
    :param client: a PyBullet client to build in; ``None`` connects a headless (``DIRECT``)
        one of its own, disconnected by :meth:`close`. A shared client must hold nothing else.
    """

    def __init__(
        self,
        spec: RobotSpec,
        *,
        world: WorldLayout | None = None,
        dynamics: DynamicsParams | None = None,
        search_path: Iterable[Path | str] = (),
        client: int | None = None,
    ) -> None:
        self._spec = spec
        self._layout = world if world is not None else WorldLayout()
        self._owns_client = client is None
        self._client = pybullet.connect(pybullet.DIRECT) if client is None else client
        self._closed = False
        try:
            self._build(search_path)
        except Exception:
            self.close()
            raise
        self._rng = np.random.default_rng()
        self._queue: collections.deque[Command] = collections.deque()
        self.set_dynamics(dynamics if dynamics is not None else DynamicsParams())
        self.reset()

    def _build(self, search_path: Iterable[Path | str]) -> None:
        spec, client = self._spec, self._client
        self._timestep_ns = round(spec.sim.timestep_s * 1e9)
        self.substeps = max(1, round(spec.control_period_s / spec.sim.timestep_s))
        pybullet.setGravity(0.0, 0.0, GRAVITY_MPS2, physicsClientId=client)
        pybullet.setTimeStep(spec.sim.timestep_s, physicsClientId=client)
        self._floor = add_floor(client)
        self.body = load_pybullet(spec, client, search_path=search_path)
        self._id = self.body.body_id
        self._links = sorted(self.body.link_index.values())
        # Sliding friction: the URDF's <contact> block where a link has one, else MuJoCo's default.
        contact = urdf_lateral_friction(spec.urdf_path)
        self._link_friction = {i: contact.get(name, FLOOR_FRICTION) for name, i in self.body.link_index.items()}
        self._nominal = {}  # link -> (mass, kg; principal inertia, kg·m²)
        for link in self._links:
            # PyBullet damps every link's motion by default; MuJoCo does not.
            pybullet.changeDynamics(self._id, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=client)
            info = pybullet.getDynamicsInfo(self._id, link, physicsClientId=client)
            self._nominal[link] = (info[0], info[2])
        self.world = PybulletWorld(self._layout, client)
        self.drive = JointDrive(self.body, spec, spec.sim.timestep_s, GRAVITY_MPS2, search_path)
        self._joints = self.drive.joints
        self._rest_height = 0.0
        self._odometry: WheelOdometry | None = None
        self._scan: LaserScan | None = None
        if spec.kind == "base":
            assert spec.base is not None
            self._rest_height = -lowest_point_z(client, self._id)
            pybullet.resetBasePositionAndOrientation(
                self._id, [0.0, 0.0, self._rest_height], [0.0, 0.0, 0.0, 1.0], physicsClientId=client
            )
            names = list(spec.joint_names)
            self._wheel_columns = [names.index(spec.base.left_wheel_joint), names.index(spec.base.right_wheel_joint)]
            self._odometry = WheelOdometry(spec.base)
        if spec.sensors.laser is not None:
            for link in self._links:
                pybullet.setCollisionFilterGroupMask(self._id, link, ROBOT_COLLISION_GROUP, -1, physicsClientId=client)
            self._scan_period_ns = round(1e9 / spec.sensors.laser.rate_hz)
        self._overview = overview_camera(client, [self._id, *self.world.objects.values()])
        # Everything as built, contact caches included: reset starts from here every time.
        pybullet.performCollisionDetection(physicsClientId=client)
        self._snapshot = pybullet.saveState(physicsClientId=client)

    # --- hardware.Robot ----------------------------------------------------------------------

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    @property
    def layout(self) -> WorldLayout:
        return self._layout

    @property
    def dynamics(self) -> DynamicsParams:
        """The physics parameters in use, every field resolved against the spec."""
        return self._dynamics

    @property
    def client(self) -> int:
        """The PyBullet physics client id."""
        return self._client

    def now_ns(self) -> int:
        """Simulation time, ns (0 at reset)."""
        return self._steps * self._timestep_ns

    def read(self) -> RobotState:
        states = pybullet.getJointStates(self._id, self._joints, physicsClientId=self._client)
        position = np.array([s[0] for s in states])
        velocity = np.array([s[1] for s in states])
        effort = self.drive.actuator_effort()
        return measured_state(
            self.now_ns(), position, velocity, effort, self._odometry, self._scan, self._dynamics, self._rng
        )

    def write(self, command: Command) -> Command:
        """Apply ``command`` (after the action delay) and advance one control period.

        :returns: the command as clipped to the actuators' ranges; it takes effect after
            ``dynamics.action_delay_steps`` control periods.
        :raises CommandError: wrong interface or size, or values that are NaN or infinite.
        """
        self._check_open()
        clipped = accept_command(self._spec, command)
        self._queue.append(clipped)
        self._apply(self._queue.popleft())
        if self._odometry is not None:
            self._odometry.update(self._wheel_angles(), self._spec.control_period_s)
            self._update_scan()
        return clipped

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        """Back to time 0 at rest: joints at ``position`` (or home, plus the seeded initial
        noise), objects and markers at their layout poses, the delay line full of holds."""
        self._check_open()
        rng = np.random.default_rng(seed)
        self._rng = np.random.default_rng(rng.integers(2**63))
        spec = self._spec
        q = start_position(spec, position, rng, self._dynamics.initial_position_noise)
        pybullet.restoreState(self._snapshot, physicsClientId=self._client)
        self._apply_dynamics()  # motors and dynamics are not part of the snapshot
        self.body.set_joint_positions(spec.joint_names, q)
        self.world.reset()
        self._steps = 0
        self._target = q.copy()
        self._queue = collections.deque([self._hold_command()] * self._dynamics.action_delay_steps)
        self._restart_base_sensors()
        hold = self._hold_command().values
        self.drive.update_effort(hold if spec.command_interface == "position" else np.zeros(spec.dof))
        return self.read()

    def set_dynamics(self, params: DynamicsParams) -> None:
        """Use these physics parameters from now on (the action delay from the next reset).

        :raises ValueError: a value does not fit the spec, or ``mass_scale`` names neither a
            link of the robot nor a world object or marker (static ones are accepted, unchanged).
        """
        params.check_for(self._spec)
        layout = self._layout
        known = set(self.body.link_index) | {o.name for o in layout.objects} | {m.name for m in layout.markers}
        unknown = set(params.mass_scale) - known
        if unknown:
            raise ValueError(
                f"dynamics.mass_scale names {sorted(unknown)}, which are neither links of '{self._spec.name}' "
                f"nor world objects; known: {sorted(known)}"
            )
        self._dynamics = params.resolved(self._spec)
        self._apply_dynamics()

    def _apply_dynamics(self) -> None:
        p, client = self._dynamics, self._client
        scales = {self.body.link_index[name]: s for name, s in p.mass_scale.items() if name in self.body.link_index}
        inertia = {}
        for link in self._links:
            scale = scales.get(link, 1.0)
            mass, diagonal = self._nominal[link]
            inertia[link] = (mass * scale, [scale * value for value in diagonal])
            pybullet.changeDynamics(
                self._id,
                link,
                lateralFriction=self._link_friction[link] * p.friction_scale,
                mass=inertia[link][0],
                localInertiaDiagonal=inertia[link][1],
                physicsClientId=client,
            )
        # The floor is in nearly every contact and PyBullet multiplies frictions: scaling the
        # floor too would scale those contacts twice.
        self.world.scale_dynamics(p.friction_scale, p.mass_scale)
        self.drive.configure(p, inertia)

    def __del__(self) -> None:
        # A forgotten close() would leak the dynamics model's client (and an owned one).
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 (interpreter shutdown: pybullet may be gone)
            pass

    def close(self) -> None:
        """Disconnect the client if this robot connected it; closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if hasattr(self, "drive"):
            self.drive.close()
        if self._owns_client and pybullet.isConnected(self._client):
            pybullet.disconnect(self._client)

    # --- sim.world.SimWorld ------------------------------------------------------------------

    def object_pose(self, name: str) -> Pose:
        """Ground-truth pose of a world object (position m, quaternion w x y z)."""
        return self.world.pose(name)

    def set_object_pose(self, name: str, position: ArrayLike, yaw_rad: float = 0.0) -> None:
        if not self._layout.object(name).movable:
            raise ValueError(f"world object '{name}' is static (mass 0); only movable objects can be placed")
        self.world.place(name, position, yaw_rad)

    def set_marker(self, name: str, position: ArrayLike) -> None:
        self.world.set_marker(name, position)

    def base_pose(self) -> Pose:
        """Ground-truth pose of a base's root link frame."""
        if self._spec.kind != "base":
            raise AttributeError(f"'{self._spec.name}' is an arm; only bases have a base pose")
        position, quaternion = self.body.link_pose(self.body.root_link)
        return Pose(position, quaternion)

    def set_base_pose(self, x_m: float, y_m: float, yaw_rad: float = 0.0) -> None:
        """Put a base at rest on the floor at ``(x_m, y_m)`` heading ``yaw_rad``; odometry restarts there."""
        if self._spec.kind != "base":
            raise AttributeError(f"'{self._spec.name}' is an arm; only bases can be placed")
        client = self._client
        pybullet.resetBasePositionAndOrientation(
            self._id, [x_m, y_m, self._rest_height], xyzw(yaw_quaternion(yaw_rad)), physicsClientId=client
        )
        pybullet.resetBaseVelocity(self._id, [0.0] * 3, [0.0] * 3, physicsClientId=client)
        angles = [pybullet.getJointState(self._id, j, physicsClientId=client)[0] for j in self._joints]
        self.body.set_joint_positions(self._spec.joint_names, angles)  # wheels at rest where they are
        self._restart_base_sensors()

    def render(self, width: int = 480, height: int = 360, camera: str | None = None) -> NDArray[np.uint8]:
        """An RGB frame (height x width x 3); ``camera=None`` frames the robot and the world as
        built, a camera of ``spec.sensors.cameras`` looks along its link's +x."""
        self._check_open()
        if camera is None:
            view, fovy = self._overview
        else:
            cameras = {c.name: c for c in self._spec.sensors.cameras}
            if camera not in cameras:
                raise KeyError(f"'{self._spec.name}' has no camera '{camera}'; cameras: {list(cameras)}")
            position, quaternion = self.body.link_pose(cameras[camera].link)
            view, fovy = link_camera(self._client, position, quaternion, cameras[camera])
        return render_rgb(self._client, view, fovy, width, height)

    # --- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"PybulletRobot '{self._spec.name}' is closed; make a new one")

    def _hold_command(self) -> Command:
        return hold_command(self._spec, self._target)

    def _apply(self, command: Command) -> None:
        """Advance one control period with ``command`` driving the actuators.

        Position: like ``MujocoRobot``'s integrating servo, the reference starts the period at
        the previous target plus the feed-forward lead ``kv / kp * qd_ref`` and moves at
        ``qd_ref``, the speed that reaches the new target at the period's end.
        """
        values = command.values
        dt = self._spec.sim.timestep_s
        if command.interface == "twist":
            assert self._spec.base is not None
            speeds = np.zeros(self._spec.dof)
            speeds[self._wheel_columns] = wheel_speeds(self._spec.base, command.values[0], command.values[2])
            self.drive.apply(speeds)  # velocity motors: they keep their target through the period
            for _ in range(self.substeps):
                pybullet.stepSimulation(physicsClientId=self._client)
                self._steps += 1
            return
        if command.interface != "position":
            for _ in range(self.substeps):
                self._step(values)
            return
        velocity = (values - self._target) / self._spec.control_period_s
        kp, kv = np.asarray(self._dynamics.kp), np.asarray(self._dynamics.kv)
        start = self._target + kv / np.maximum(kp, 1e-9) * velocity
        for k in range(self.substeps):
            self._step(start + (k * dt) * velocity)
        self._target = values.copy()

    def _step(self, reference: NDArray[np.float64]) -> None:
        self.drive.apply(reference)
        pybullet.stepSimulation(physicsClientId=self._client)
        self._steps += 1

    def _wheel_angles(self) -> NDArray[np.float64]:
        wheels = [self._joints[i] for i in self._wheel_columns]
        return np.array([pybullet.getJointState(self._id, j, physicsClientId=self._client)[0] for j in wheels])

    def _restart_base_sensors(self) -> None:
        if self._odometry is None:
            return
        self._odometry.reset(self._wheel_angles())
        self._next_scan_ns = self.now_ns()
        self._update_scan()

    def _update_scan(self) -> None:
        laser = self._spec.sensors.laser
        now = self.now_ns()
        if laser is None or now < self._next_scan_ns:
            return
        self._next_scan_ns = now + self._scan_period_ns
        origin, quaternion = self.body.link_pose(laser.link)
        ranges = cast_laser(self._client, origin, quaternion, laser, skip_group=ROBOT_COLLISION_GROUP)
        self._scan = laser_scan(ranges, np.isfinite(ranges), laser, self._rng, self._dynamics.scan_noise_std, now)
