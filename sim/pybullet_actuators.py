"""A robot's joint actuators in PyBullet, behaving like the MuJoCo actuators of ``sim.mujoco_model``.

The contract (``spec.sim``: kp, kv, damping, armature, friction_loss, gravity compensation) is
written in MuJoCo's terms: a position servo applies ``kp (ref - q) - kv qd`` (``ref`` includes
the feed-forward lead, see ``sim.mujoco_robot``), a velocity servo ``kv (ref - qd)``, a motor
its command; each actuator's force is capped at ``max_effort``, gravity compensation is added
and the sum capped again; MuJoCo integrates all of it implicitly (``implicitfast``) against the
joint inertia plus armature. PyBullet has no such actuator. Its joint motor is a velocity
constraint solved together with contacts and joint limits: each step it asks for
``qd_next = positionGain (q_target - q) / dt + velocityGain (qd_target - u) + u``, where ``u``
is the velocity the other forces alone would give, and pushes with at most ``force``.

**How kp and kv map to PyBullet, and why not to constant gains.** PyBullet's gains are fractions
per step, not N·m/rad. Matching one MuJoCo step gives, per joint, ``positionGain = kp dt² / m``
and ``velocityGain = (kv + damping) dt / m`` with ``m = M_ii(q) + armature + (kv + damping)
dt``: they change with the configuration, they ignore the coupling between joints (the
off-diagonal ``M``), and with ``velocityGain < 1`` a fraction of gravity's pull leaks through
(measured: a UR5e wrist off by 1 % of its speed within one step). So each physics step,
:class:`JointDrive` does MuJoCo's arithmetic itself (:func:`servo_next_velocity`) with the full
mass matrix (``calculateMassMatrix``; armature on the diagonal) and bias forces
(``calculateInverseDynamics``: Coriolis, gravity unless compensated), both from a copy of the
arm (:class:`DynamicsModel`), and makes PyBullet land on the resulting velocity:

- every arm interface: ``TORQUE_CONTROL`` with ``M (qd_next - qd) / dt + bias``, the torque
  with which PyBullet's own (armature-free) dynamics reach ``qd_next`` in free motion. Measured
  against ``MujocoRobot`` (UR5e, 5 s of varied targets through ``SafeRobot``, actuators
  saturating at times): joints agree to 1e-12 rad, the tool to 1e-7 m.
- position and velocity interfaces, in addition: a ``VELOCITY_CONTROL`` motor toward
  ``qd_next`` (``velocityGain = 1``, ``positionGain = 0``) whose force is what is left of
  ``max_effort``. In free motion it has nothing to do; against a contact or a joint limit it is
  the servo's stiffness. (There it is stiffer than MuJoCo's servo, which pushes with ``kp``
  times the error; PyBullet's pushes with what is left of ``max_effort`` at once.)
- effort interface: the velocity motors are off (force 0): the joint is backdrivable.

The rest of the contract:

- damping: in the arithmetic (implicit, as in MuJoCo). PyBullet's ``jointDamping`` is explicit
  and diverges on light joints (a UR5e wrist: damping 0.5 N·m·s/rad, inertia 2.6e-4 kg·m²,
  dt 2 ms: measured), so it is set to 0.
- friction_loss: in the arithmetic: a joint's next speed moves toward zero by at most
  ``dt friction_loss / A_ii`` (``A`` the implicit step's matrix), a per-joint reading of
  MuJoCo's dry-friction constraint. The usual PyBullet trick (a velocity motor toward 0 with
  ``force = friction_loss``) is not used: it would replace the servo's own motor.
- armature: PyBullet bodies have none. It is in the arithmetic, so joints move as in MuJoCo in
  free motion, but contacts see the links without it.
- gravity compensation: left out of the bias and counted against ``max_effort`` (MuJoCo's
  ``actgravcomp`` with the joint's actuator force range); joints that no actuator drives (a
  gripper's fingers) get the holding torque ``calculateInverseDynamics(q, 0, 0)``.
- twist (wheels): a base's wheels roll on the floor, so the arm arithmetic (free motion) does
  not apply. Each wheel is a ``VELOCITY_CONTROL`` motor with the per-joint gain above,
  ``velocityGain = (kv + damping) dt / (I + armature + (kv + damping) dt)`` (``I`` the wheel's
  inertia about its axle), toward ``kv ref / (kv + damping)``, force ``max_effort``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pybullet
from numpy.typing import NDArray

from hardware.spec import RobotSpec
from sim.dynamics import DynamicsParams
from sim.pybullet_model import PybulletBody, load_pybullet

FloatArray = NDArray[np.float64]
#: Mass (kg) and principal inertia (kg·m², inertial frame) per PyBullet link index.
LinkInertia = Mapping[int, tuple[float, Sequence[float]]]

_MOVABLE = (pybullet.JOINT_REVOLUTE, pybullet.JOINT_PRISMATIC)


def servo_next_velocity(
    mass_matrix: FloatArray,
    force: FloatArray,
    qd: FloatArray,
    implicit_damping: FloatArray,
    armature: FloatArray,
    friction_loss: FloatArray,
    dt: float,
) -> FloatArray:
    """Joint velocities after one MuJoCo ``implicitfast`` step, dry friction included.

    Solves ``(M + armature + dt D) (qd_next - qd) = dt force``, then moves each speed toward
    zero by at most ``dt friction_loss / (M + armature + dt D)_ii``.

    :param mass_matrix: joint-space inertia of the driven joints, kg·m² (n x n).
    :param force: all joint torques at the current state (actuators, damping, minus bias), N·m.
    :param qd: velocities, rad/s.
    :param implicit_damping: ``D``, the torques' derivative with respect to ``-qd``, N·m·s/rad.
    :param armature: reflected rotor inertia per joint, kg·m².
    :param friction_loss: dry friction per joint, N·m.
    :param dt: physics step, s.
    """
    system = mass_matrix.copy()
    diagonal = np.diag_indices_from(system)
    system[diagonal] += armature + dt * implicit_damping
    qd_next = qd + dt * np.linalg.solve(system, force)
    if not friction_loss.any():
        return qd_next
    friction_step = dt * friction_loss / system[diagonal]
    return np.sign(qd_next) * np.maximum(np.abs(qd_next) - friction_step, 0.0)


def _clip(values: FloatArray, limit: FloatArray) -> FloatArray:
    """``values`` within ``±limit`` (np.clip costs several µs on short arrays)."""
    return np.minimum(np.maximum(values, -limit), limit)


class DynamicsModel:
    """An arm's rigid-body model for ``calculateMassMatrix`` and ``calculateInverseDynamics``:
    a fixed copy of the robot in a PyBullet client of its own.

    PyBullet builds the model behind those two functions once per body, from the masses the body
    has at the first call, and never updates it (``changeDynamics`` does not reach it). It keeps
    these models by the body's memory address and never drops them, so a body loaded after
    ``removeBody`` may get the old one back (measured: 2 runs in 20 used stale masses). So when
    the link masses change, the copy is loaded into a fresh client.

    :param spec: the robot; its URDF is loaded with ``search_path``.
    :param gravity_mps2: gravity along world z, m/s².
    """

    def __init__(self, spec: RobotSpec, search_path: Iterable[Path | str], gravity_mps2: float) -> None:
        self._spec, self._search_path, self._gravity = spec, tuple(search_path), gravity_mps2
        self._client: int | None = None
        self._body = -1
        self._inertia: dict[int, tuple[float, tuple[float, ...]]] | None = None

    def set_inertia(self, inertia: LinkInertia) -> None:
        """Use these link masses and inertias (a new copy if they changed)."""
        wanted = {link: (float(mass), tuple(map(float, diagonal))) for link, (mass, diagonal) in inertia.items()}
        if wanted == self._inertia:
            return
        self.close()
        self._client = client = pybullet.connect(pybullet.DIRECT)
        pybullet.setGravity(0.0, 0.0, self._gravity, physicsClientId=client)
        self._body = load_pybullet(self._spec, client, search_path=self._search_path, fixed_base=True).body_id
        for link, (mass, diagonal) in wanted.items():
            pybullet.changeDynamics(self._body, link, mass=mass, localInertiaDiagonal=diagonal, physicsClientId=client)
        self._inertia = wanted

    def mass_matrix(self, q: list[float]) -> FloatArray:
        """Joint-space inertia at ``q`` (all movable joints), kg·m²."""
        return np.array(pybullet.calculateMassMatrix(self._body, q, physicsClientId=self._client))

    def bias(self, q: list[float], qd: list[float]) -> FloatArray:
        """Torques that hold ``q`` moving at ``qd`` without acceleration: Coriolis and gravity, N·m."""
        zeros = [0.0] * len(q)
        return np.array(pybullet.calculateInverseDynamics(self._body, q, qd, zeros, physicsClientId=self._client))

    def close(self) -> None:
        if self._client is not None and pybullet.isConnected(self._client):
            pybullet.disconnect(self._client)
        self._client, self._inertia = None, None


class JointDrive:
    """The actuators of one robot body: call :meth:`apply` before every ``stepSimulation``.

    :param body: the robot in its PyBullet client.
    :param spec: which joints are commanded, through which interface, with which limits.
    :param dt: physics step, s.
    :param gravity_mps2: gravity along world z, m/s².
    :param search_path: extra folders for the URDF's meshes (the arm's dynamics model loads it).
    """

    def __init__(
        self,
        body: PybulletBody,
        spec: RobotSpec,
        dt: float,
        gravity_mps2: float,
        search_path: Iterable[Path | str] = (),
    ) -> None:
        self._spec, self._dt = spec, dt
        self._client, self._id = body.client_id, body.body_id
        self.joints = [body.joint_index[name] for name in spec.joint_names]
        count = pybullet.getNumJoints(self._id, physicsClientId=self._client)
        kinds = [pybullet.getJointInfo(self._id, j, physicsClientId=self._client)[2] for j in range(count)]
        self._movable = [j for j in range(count) if kinds[j] in _MOVABLE]
        # Columns of the commanded and of the undriven joints in PyBullet's joint-space vectors.
        self._columns = [self._movable.index(j) for j in self.joints]
        self._free = [j for j in self._movable if j not in self.joints]
        self._free_columns = [self._movable.index(j) for j in self._free]
        self._max_effort = np.asarray(spec.max_effort, dtype=np.float64)
        self._lower, self._upper = spec.position_lower, spec.position_upper
        self._all_columns = self._columns == list(range(len(self._movable)))
        self._unit_gains = [1.0] * len(self.joints)
        self._wheel_gain = np.ones(spec.dof)
        self._effort = np.zeros(spec.dof)
        self._model = DynamicsModel(spec, search_path, gravity_mps2) if spec.command_interface != "twist" else None

    def close(self) -> None:
        """Release the dynamics model's client."""
        if self._model is not None:
            self._model.close()

    def configure(self, dynamics: DynamicsParams, inertia: LinkInertia) -> None:
        """Use resolved dynamics (gains, damping, armature, friction) and the links' masses and
        inertias (as just given to the body) from the next step on."""
        if self._model is not None:
            self._model.set_inertia(inertia)
        self._kp, self._kv = np.asarray(dynamics.kp), np.asarray(dynamics.kv)
        self._damping, self._armature = np.asarray(dynamics.damping), np.asarray(dynamics.armature)
        self._friction = np.asarray(dynamics.friction_loss)
        client, body = self._client, self._id
        for joint in self._movable:
            # Damping is in the arithmetic (see the module doc), never PyBullet's explicit one.
            pybullet.changeDynamics(body, joint, jointDamping=0.0, physicsClientId=client)
        switched_off = self._free + (self.joints if self._spec.command_interface == "effort" else [])
        if switched_off:
            pybullet.setJointMotorControlArray(
                body, switched_off, pybullet.VELOCITY_CONTROL, forces=[0.0] * len(switched_off), physicsClientId=client
            )
        if self._spec.command_interface == "twist":
            gain = self._kv + self._damping
            inertia = np.array([self._axial_inertia(j) for j in self.joints]) + self._armature
            self._wheel_gain = gain * self._dt / (inertia + gain * self._dt)

    def _axial_inertia(self, joint: int) -> float:
        """Inertia of a joint's child link about the joint axis, kg·m² (the link alone)."""
        client = self._client
        info = pybullet.getDynamicsInfo(self._id, joint, physicsClientId=client)
        diagonal, inertial_xyzw = np.asarray(info[2]), info[4]
        axis_in_link = np.asarray(pybullet.getJointInfo(self._id, joint, physicsClientId=client)[13])
        rotation = np.asarray(pybullet.getMatrixFromQuaternion(inertial_xyzw)).reshape(3, 3)
        axis = rotation.T @ axis_in_link  # in the inertial frame
        return float(axis @ (diagonal * axis))

    def apply(self, reference: FloatArray) -> None:
        """Set the motors for the next physics step (once per step: PyBullet adds up the
        torques given between two steps).

        :param reference: per commanded joint, by interface: position, the servo's reference
            (rad; the caller adds the feed-forward lead ``kv / kp * qd_ref``, as MuJoCo's
            actuator sees it); velocity, the target (rad/s); effort, the torque (N·m);
            twist, the wheel speeds (rad/s).
        """
        if self._spec.command_interface == "twist":
            self._apply_wheels(reference)
            return
        qd_next, torque, free_torque = self._servo(reference)
        client, body = self._client, self._id
        if self._free and self._spec.sim.gravity_compensation:
            pybullet.setJointMotorControlArray(
                body, self._free, pybullet.TORQUE_CONTROL, forces=free_torque, physicsClientId=client
            )
        if self._spec.command_interface != "effort":
            pybullet.setJointMotorControlArray(
                body,
                self.joints,
                pybullet.VELOCITY_CONTROL,
                targetVelocities=qd_next,
                velocityGains=self._unit_gains,
                forces=np.maximum(self._max_effort - np.abs(torque), 0.0),
                physicsClientId=client,
            )
        pybullet.setJointMotorControlArray(
            body, self.joints, pybullet.TORQUE_CONTROL, forces=torque, physicsClientId=client
        )

    def update_effort(self, reference: FloatArray) -> None:
        """Compute the actuators' torques for ``reference`` at the current state without setting
        any motor (what :meth:`actuator_effort` reports right after a reset)."""
        if self._spec.command_interface != "twist":
            self._servo(reference)

    def _servo(self, reference: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """MuJoCo's step for the driven joints (see the module doc): their next velocities and
        the torques that reach them, and the gravity torques of the undriven joints."""
        states = pybullet.getJointStates(self._id, self._movable, physicsClientId=self._client)
        q_all = [state[0] for state in states]
        qd_all = [state[1] for state in states]
        assert self._model is not None
        mass = self._model.mass_matrix(q_all)
        bias = self._model.bias(q_all, qd_all)
        if self._spec.sim.gravity_compensation:
            gravity = self._model.bias(q_all, [0.0] * len(q_all))
        else:
            gravity = np.zeros(len(q_all))
        free_torque = gravity[self._free_columns]
        q, qd = np.array(q_all), np.array(qd_all)
        if not self._all_columns:  # undriven joints: keep the driven ones' rows and columns
            columns = self._columns
            q, qd, bias, gravity = q[columns], qd[columns], bias[columns], gravity[columns]
            mass = mass[np.ix_(columns, columns)]
        kv, damping, limit = self._kv, self._damping, self._max_effort
        interface = self._spec.command_interface
        if interface == "position":
            actuator = self._kp * (np.minimum(np.maximum(reference, self._lower), self._upper) - q) - kv * qd
            derivative = kv + damping
        elif interface == "velocity":
            actuator = kv * (reference - qd)
            derivative = kv + damping
        else:
            actuator, derivative = reference, damping
        # MuJoCo clips the actuator's force, adds gravity compensation (actgravcomp) and clips
        # the sum (the joint's actuator force range). A clipped force no longer depends on the
        # velocity, and MuJoCo leaves kv out of the implicit step wherever either clip acts
        # (measured: the joint-level clip too, to 1e-12 rad against MuJoCo 4.0).
        total = _clip(actuator, limit) + gravity
        clipped = (np.abs(actuator) >= limit) | (np.abs(total) >= limit)
        derivative = np.where(clipped, damping, derivative)
        self._effort = _clip(total, limit)
        force = self._effort - damping * qd - bias
        qd_next = servo_next_velocity(mass, force, qd, derivative, self._armature, self._friction, self._dt)
        torque = mass @ (qd_next - qd) / self._dt + bias
        return qd_next, torque, free_torque

    def _apply_wheels(self, speeds: FloatArray) -> None:
        kv, damping = self._kv, self._damping
        speeds = np.clip(speeds, -self._spec.max_velocity, self._spec.max_velocity)
        target = np.divide(kv * speeds, kv + damping, out=np.zeros_like(speeds), where=kv + damping > 0)
        pybullet.setJointMotorControlArray(
            self._id,
            self.joints,
            pybullet.VELOCITY_CONTROL,
            targetVelocities=list(target),
            velocityGains=list(self._wheel_gain),
            forces=list(self._max_effort),
            physicsClientId=self._client,
        )

    def actuator_effort(self) -> FloatArray:
        """Torque of each commanded joint's actuator in the last step, N·m: what the servo or
        motor computed, gravity compensation included (MuJoCo's ``qfrc_actuator``); for wheels
        the motor's torque."""
        if self._spec.command_interface != "twist":
            return self._effort.copy()
        states = pybullet.getJointStates(self._id, self.joints, physicsClientId=self._client)
        return np.array([s[3] for s in states])  # appliedJointMotorTorque
