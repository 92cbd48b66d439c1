"""``MujocoRobot``: a :class:`hardware.Robot` simulated in MuJoCo, in lock-step.

Each :meth:`MujocoRobot.write` applies a command and advances the physics by one control period
of the robot (``spec.control_period_s``, ``substeps`` physics steps). The robot is raw, as a
driver is: the safety layer is put in front of it with :class:`hardware.safety.SafeRobot`, as on
the real robot.

What the simulated joint controller does, per interface:

- position: tracks the stream of targets like a real arm's joint controller does (UR, Franka
  interpolate streamed targets in their own faster loop): the servo's reference moves linearly
  from the previous target to the new one over the control period, with velocity feed-forward,
  ``torque = kp (q_ref - q) + kv (qd_ref - qd)``. MuJoCo integrates the reference itself (an
  ``intvelocity`` actuator, see :func:`sim.mujoco_model.build_mujoco_spec`): the reference
  starts each period at ``q_ref + kv / kp * qd_ref`` and moves at ``qd_ref``, which is the
  feed-forward term written as a lead;
- velocity: a velocity servo (kv); effort: a motor;
- twist: wheel speeds from :func:`sim.diff_drive.wheel_speeds` to the wheels' velocity servos.

Bases report wheel odometry (what the wheels turned, drift included) and a planar laser scan cast
with ``mj_multiRay`` at the laser's own rate.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import LaserScan, RobotState
from sim.diff_drive import WheelOdometry, wheel_speeds
from sim.dynamics import DynamicsParams
from sim.mujoco_model import LASER_SITE, OVERVIEW_CAMERA, build_mujoco_spec
from sim.mujoco_urdf import FLOATING_BASE_JOINT
from sim.mujoco_world import COLLISION_GROUP, add_world, scene_camera
from sim.sim_robot import accept_command, hold_command, laser_scan, measured_state, start_position
from sim.world import Pose, WorldLayout, yaw_quaternion


class MujocoRobot:
    """A robot (and the world around it) in MuJoCo.

    :param spec: the robot's contract; its ``sim`` section gives the physics.
    :param world: objects and markers around the robot.
    :param dynamics: physics parameters (domain randomization); nominal when ``None``.
    :param search_path: extra folders for the URDF's meshes.
    """

    def __init__(
        self,
        spec: RobotSpec,
        *,
        world: WorldLayout | None = None,
        dynamics: DynamicsParams | None = None,
        search_path: Iterable[Path | str] = (),
    ) -> None:
        self._spec = spec
        self._layout = world if world is not None else WorldLayout()
        mj_spec = build_mujoco_spec(spec, search_path=search_path)
        add_world(mj_spec, self._layout)
        self.model = mj_spec.compile()
        self.data = mujoco.MjData(self.model)
        joints = [self.model.joint(name) for name in spec.joint_names]
        self._qpos_index = np.array([int(j.qposadr[0]) for j in joints])
        self._dof_index = np.array([int(j.dofadr[0]) for j in joints])
        # build_mujoco_spec adds one actuator per joint first, in joint order: actuator i drives
        # joint i, and the first spec.dof controls are a cheap view.
        assert [self.model.actuator(i).name for i in range(spec.dof)] == list(spec.joint_names)
        self._ctrl = self.data.ctrl[: spec.dof]  # views into MjData, kept: MjData getters cost µs
        self._qpos = self.data.qpos
        self._qvel = self.data.qvel
        self._qfrc_actuator = self.data.qfrc_actuator
        self.substeps = max(1, round(spec.control_period_s / spec.sim.timestep_s))
        # Position servos: each joint's servo reference is its actuator's activation (the first
        # activations, in joint order); other interfaces have none.
        self._act_view = self.data.act[: self.model.na]
        assert self.model.na in (0, spec.dof) and np.all(self.model.actuator_actadr[: self.model.na] >= 0)
        self._nominal = {
            "geom_friction": self.model.geom_friction[:, 0].copy(),
            "body_mass": self.model.body_mass.copy(),
            "body_inertia": self.model.body_inertia.copy(),
        }
        self._base_setup()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._rng = np.random.default_rng()
        self._queue: collections.deque[Command] = collections.deque()
        self.set_dynamics(dynamics if dynamics is not None else DynamicsParams())
        self.reset()

    # --- hardware.Robot ----------------------------------------------------------------------

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    @property
    def layout(self) -> WorldLayout:
        return self._layout

    @property
    def dynamics(self) -> DynamicsParams:
        return self._dynamics

    def now_ns(self) -> int:
        """Simulation time, ns (0 at reset)."""
        return round(self.data.time * 1e9)

    def read(self) -> RobotState:
        return measured_state(
            self.now_ns(),
            self._qpos[self._qpos_index],
            self._qvel[self._dof_index],
            self._qfrc_actuator[self._dof_index],
            self._odometry,
            self._scan,
            self._dynamics,
            self._rng,
        )

    def write(self, command: Command) -> Command:
        """Apply ``command`` (after the action delay) and advance one control period.

        :returns: the command as clipped to the actuators' ranges; it takes effect after
            ``dynamics.action_delay_steps`` control periods.
        :raises CommandError: wrong interface or size, or values that are NaN or infinite.
        """
        clipped = accept_command(self._spec, command)
        self._queue.append(clipped)
        self._apply(self._queue.popleft())
        self._after_step()
        return clipped

    def reset(self, *, seed: int | None = None, position: ArrayLike | None = None) -> RobotState:
        """Back to time 0 at rest: joints at ``position`` (or home), objects at their layout poses."""
        rng = np.random.default_rng(seed)
        self._rng = np.random.default_rng(rng.integers(2**63))
        spec = self._spec
        q = start_position(spec, position, rng, self._dynamics.initial_position_noise)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos_index] = q
        self._target = q.copy()
        hold = self._hold_command()
        self._ctrl[:] = 0.0
        self._act_view[:] = q if self.model.na else 0.0
        self._queue = collections.deque([hold] * self._dynamics.action_delay_steps)
        mujoco.mj_forward(self.model, self.data)
        self._restart_base_sensors()
        return self.read()

    def set_dynamics(self, params: DynamicsParams) -> None:
        """Use these physics parameters from now on (the action delay from the next reset)."""
        params.check_for(self._spec)
        unknown = set(params.mass_scale) - {self.model.body(i).name for i in range(self.model.nbody)}
        if unknown:
            raise ValueError(f"dynamics.mass_scale names bodies not in the model: {sorted(unknown)}")
        p = params.resolved(self._spec)
        m, dofs = self.model, self._dof_index
        m.dof_damping[dofs] = p.damping
        m.dof_armature[dofs] = p.armature
        m.dof_frictionloss[dofs] = p.friction_loss
        m.geom_friction[:, 0] = self._nominal["geom_friction"] * p.friction_scale
        m.body_mass[:] = self._nominal["body_mass"]
        m.body_inertia[:] = self._nominal["body_inertia"]
        for name, scale in p.mass_scale.items():
            body = m.body(name).id
            m.body_mass[body] *= scale
            m.body_inertia[body] *= scale
        actuators = slice(0, self._spec.dof)
        kp, kv = np.asarray(p.kp), np.asarray(p.kv)
        if self._spec.command_interface == "position":
            m.actuator_gainprm[actuators, 0] = kp
            m.actuator_biasprm[actuators, 1] = -kp
            m.actuator_biasprm[actuators, 2] = -kv
        elif self._spec.command_interface in ("velocity", "twist"):
            m.actuator_gainprm[actuators, 0] = kv
            m.actuator_biasprm[actuators, 2] = -kv
        self._feedforward = kv / np.maximum(kp, 1e-9)
        self._dynamics = p

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # --- sim.world.SimWorld ------------------------------------------------------------------

    def object_pose(self, name: str) -> Pose:
        body = self._body(name)
        return Pose(self.data.xpos[body].copy(), self.data.xquat[body].copy())

    def set_object_pose(self, name: str, position: ArrayLike, yaw_rad: float = 0.0) -> None:
        if not self._layout.object(name).movable:
            raise ValueError(f"world object '{name}' is static (mass 0); only movable objects can be placed")
        joint = self.model.joint(name)
        adr, dof = int(joint.qposadr[0]), int(joint.dofadr[0])
        self.data.qpos[adr : adr + 3] = np.asarray(position, dtype=np.float64).reshape(3)
        self.data.qpos[adr + 3 : adr + 7] = yaw_quaternion(yaw_rad)
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_marker(self, name: str, position: ArrayLike) -> None:
        mocap = int(self.model.body_mocapid[self._body(name)])
        if mocap < 0:
            raise KeyError(f"'{name}' is not a marker of the world; markers: {[m.name for m in self._layout.markers]}")
        self.data.mocap_pos[mocap] = np.asarray(position, dtype=np.float64).reshape(3)
        mujoco.mj_kinematics(self.model, self.data)

    def base_pose(self) -> Pose:
        if self._root_body is None:
            raise AttributeError(f"'{self._spec.name}' is an arm; only bases have a base pose")
        return Pose(self.data.xpos[self._root_body].copy(), self.data.xquat[self._root_body].copy())

    def set_base_pose(self, x_m: float, y_m: float, yaw_rad: float = 0.0) -> None:
        """Put a base at rest on the floor at ``(x_m, y_m)`` heading ``yaw_rad``; odometry restarts there."""
        if self._free_qpos is None:
            raise AttributeError(f"'{self._spec.name}' is an arm; only bases can be placed")
        adr = self._free_qpos
        rest_height = self.model.qpos0[adr + 2]
        self.data.qpos[adr : adr + 7] = [x_m, y_m, rest_height, *yaw_quaternion(yaw_rad)]
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)
        self._restart_base_sensors()

    def render(self, width: int = 480, height: int = 360, camera: str | None = None) -> NDArray[np.uint8]:
        """An RGB frame; ``camera=None`` frames the robot and the world."""
        renderer = self._renderers.get((width, height))
        if renderer is None:
            renderer = self._renderers[(width, height)] = mujoco.Renderer(self.model, height=height, width=width)
        if camera is not None:
            renderer.update_scene(self.data, camera=camera)
        elif self._layout.objects:
            renderer.update_scene(self.data, camera=scene_camera(self.model, self.data))
        else:
            renderer.update_scene(self.data, camera=OVERVIEW_CAMERA)
        return renderer.render().copy()

    # --- internals ---------------------------------------------------------------------------

    def _hold_command(self) -> Command:
        return hold_command(self._spec, self._target)

    def _apply(self, command: Command) -> None:
        """Advance one control period with ``command`` driving the actuators."""
        m, d = self.model, self.data
        if command.interface != "position":
            values = command.values
            if command.interface == "twist":
                assert self._spec.base is not None
                values = wheel_speeds(self._spec.base, values[0], values[2])[self._wheel_order]
            self._ctrl[:] = values
            mujoco.mj_step(m, d, nstep=self.substeps)
            return
        velocity = (command.values - self._target) / self._spec.control_period_s
        self._act_view[:] = self._target + self._feedforward * velocity
        self._ctrl[:] = velocity
        mujoco.mj_step(m, d, nstep=self.substeps)
        self._target = command.values.copy()

    def _body(self, name: str) -> int:
        body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if body < 0:
            names = [o.name for o in self._layout.objects] + [m.name for m in self._layout.markers]
            raise KeyError(f"no object or marker '{name}' in the world; it has {names}")
        return int(body)

    # --- bases: odometry and laser -----------------------------------------------------------

    def _base_setup(self) -> None:
        spec, m = self._spec, self.model
        self._odometry: WheelOdometry | None = None
        self._scan: LaserScan | None = None
        self._root_body: int | None = None
        self._free_qpos: int | None = None
        self._laser_site = -1
        if spec.kind != "base":
            return
        assert spec.base is not None
        free = m.joint(FLOATING_BASE_JOINT)
        self._free_qpos = int(free.qposadr[0])
        self._root_body = int(free.bodyid[0])
        names = list(spec.joint_names)
        self._wheel_order = np.array([0, 1]) if names.index(spec.base.left_wheel_joint) == 0 else np.array([1, 0])
        self._wheels = self._qpos_index[
            [names.index(spec.base.left_wheel_joint), names.index(spec.base.right_wheel_joint)]
        ]
        self._odometry = WheelOdometry(spec.base)
        laser = spec.sensors.laser
        if laser is not None:
            self._laser_site = m.site(LASER_SITE).id
            self._laser_body = int(m.site_bodyid[self._laser_site])
            angles = laser.angles_rad
            self._ray_directions = np.column_stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)])
            self._ray_geom = np.zeros(laser.num_beams, dtype=np.int32)
            self._ray_dist = np.zeros(laser.num_beams)
            self._ray_groups = np.zeros(6, dtype=np.uint8)
            self._ray_groups[COLLISION_GROUP] = 1
            self._scan_period_ns = round(1e9 / laser.rate_hz)

    def _restart_base_sensors(self) -> None:
        if self._odometry is None:
            return
        self._odometry.reset(self.data.qpos[self._wheels])
        self._next_scan_ns = 0
        self._update_scan()

    def _after_step(self) -> None:
        if self._odometry is None:
            return
        self._odometry.update(self.data.qpos[self._wheels], self._spec.control_period_s)
        self._update_scan()

    def _update_scan(self) -> None:
        laser = self._spec.sensors.laser
        now = self.now_ns()
        if laser is None or now < self._next_scan_ns:
            return
        self._next_scan_ns = now + self._scan_period_ns
        rotation = self.data.site_xmat[self._laser_site].reshape(3, 3)
        directions = self._ray_directions @ rotation.T
        mujoco.mj_multiRay(
            self.model,
            self.data,
            self.data.site_xpos[self._laser_site],
            directions.reshape(-1),
            self._ray_groups,
            1,
            self._laser_body,
            self._ray_geom,
            self._ray_dist,
            None,
            laser.num_beams,
            laser.range_max_m,
        )
        hit = self._ray_geom >= 0
        self._scan = laser_scan(self._ray_dist, hit, laser, self._rng, self._dynamics.scan_noise_std, now)
