"""An arm's own kinematic model: forward kinematics, Jacobian and damped least-squares IK.

This is the end-effector delta interface of ``DESIGN.md``: a Cartesian target becomes
joint-position targets through the robot's URDF compiled by MuJoCo (``mj_jacSite`` at
:data:`sim.mujoco_model.END_EFFECTOR_SITE`), the same code in simulation and on the robot. It
needs only the kinematic tree, so it runs ``mj_kinematics`` and ``mj_comPos`` (what
``mj_jacSite`` reads), never the full ``mj_forward``.

An :class:`ArmKinematics` owns a private ``MjData`` and reuses its buffers: it is cheap to call
every control step but not thread-safe (make one per thread).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.spec import RobotSpec
from sim.mujoco_model import END_EFFECTOR_SITE, build_mujoco_model
from sim.mujoco_urdf import joint_qpos_address
from sim.world import Pose


class ArmKinematics:
    """Kinematics of an arm's end effector (the spec's ``end_effector_link`` frame).

    Joint vectors are in spec joint order (``spec.joint_names``), rad (m for prismatic joints).
    Joints of the URDF that the spec does not command (e.g. gripper fingers) stay at zero.

    :param spec: an arm with an ``end_effector_link``.
    :param search_path: extra folders for the URDF's meshes (see :func:`sim.mjspec_from_urdf`).
    :raises ValueError: the robot is not an arm or has no end-effector link.
    """

    def __init__(self, spec: RobotSpec, *, search_path: Iterable[Path | str] = ()) -> None:
        if spec.kind != "arm" or spec.end_effector_link is None:
            raise ValueError(
                f"robot '{spec.name}' has no end effector (kind {spec.kind}); "
                "set end_effector_link in its robot YAML to use end-effector kinematics"
            )
        self._spec = spec
        self._model = build_mujoco_model(spec, search_path=search_path)
        self._data = mujoco.MjData(self._model)
        self._site = mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_SITE, END_EFFECTOR_SITE)
        self._qpos_index = np.array([joint_qpos_address(self._model, name) for name in spec.joint_names])
        joint_ids = [mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in spec.joint_names]
        self._dof_index = np.array([self._model.jnt_dofadr[j] for j in joint_ids])
        # Contiguous indices (every arm we ship) select by slice: a view, no copy, no fancy indexing.
        self._qpos_slice = _as_slice(self._qpos_index)
        self._dof_slice = _as_slice(self._dof_index)
        self._lower = np.asarray(spec.position_lower, dtype=np.float64)
        self._upper = np.asarray(spec.position_upper, dtype=np.float64)
        # Work buffers, reused by every call (MuJoCo's C routines below write into them). The
        # MjData arrays are views into MuJoCo's memory, which never moves: cache the site's rows.
        self._site_xpos = self._data.site_xpos[self._site]
        self._site_xmat = self._data.site_xmat[self._site]
        self._jac = np.zeros((6, self._model.nv))  # rows 0-2 linear, 3-5 angular; every dof
        self._jac_dof = np.zeros((6, spec.dof))  # the spec joints' columns, contiguous
        # An arm whose spec joints are all of the model's dofs (in order) gets its Jacobian
        # written straight into the contiguous buffer; others copy their columns out.
        self._direct = self._dof_slice == slice(0, self._model.nv)
        self._error = np.zeros(6)
        self._quat = np.zeros(4)
        self._quat_conj = np.zeros(4)
        self._quat_diff = np.zeros(4)
        self._normal = {rows: np.zeros((rows, rows)) for rows in (3, 6)}
        self._identity = {rows: np.eye(rows).reshape(-1) for rows in (3, 6)}
        self._multiplier = {rows: np.zeros(rows) for rows in (3, 6)}
        self._step = np.zeros(spec.dof)

    @property
    def spec(self) -> RobotSpec:
        return self._spec

    @property
    def model(self) -> mujoco.MjModel:
        """The compiled kinematic model (shared: do not edit it)."""
        return self._model

    def forward(self, q: ArrayLike) -> Pose:
        """End-effector pose at joint positions ``q``: position, m, and quaternion w x y z, world frame."""
        self._set(self._check(q))
        mujoco.mj_kinematics(self._model, self._data)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self._data.site_xmat[self._site])
        return Pose(position=self._data.site_xpos[self._site].copy(), quaternion=quat)

    def jacobian(self, q: ArrayLike) -> NDArray[np.float64]:
        """Geometric Jacobian at ``q``, shape (6, dof): rows linear velocity (m per rad) then
        angular velocity (rad per rad), in the world frame; columns in spec joint order."""
        self._set(self._check(q))
        self._update_jacobian()
        return self._jac_dof.copy()

    def solve(
        self,
        q: ArrayLike,
        target_position: ArrayLike,
        target_quaternion: ArrayLike | None = None,
        *,
        iterations: int = 3,
        damping: float = 1e-2,
        orientation_weight: float = 0.3,
        max_error_m: float = 0.1,
    ) -> NDArray[np.float64]:
        """Joint positions that move the end effector from ``q`` toward a target pose.

        Damped least squares (Levenberg-Marquardt): each iteration takes
        ``dq = Jᵀ (J Jᵀ + damping·I)⁻¹ e`` with ``e`` the pose error, and clips the result into the
        joint limits, so the next Jacobian is taken where the robot can be. The damping bounds
        each step near singularities (``|dq| <= |e| / (2 sqrt(damping))``) and the error is
        clamped to ``max_error_m``, so that an unreachable target draws the arm toward it, as
        far as it reaches, instead of making it jump. Call it again from its result to converge
        further (it is meant to run once per control step).

        :param q: start joint positions, spec order, rad (m).
        :param target_position: end-effector position to reach, m, world frame.
        :param target_quaternion: end-effector orientation, w x y z (normalized here); ``None``
            solves for position only and lets the orientation follow.
        :param iterations: Gauss-Newton iterations, each one Jacobian.
        :param damping: added to the diagonal of ``J Jᵀ``, m² (its square root is a length: steps
            along directions weaker than that are shortened).
        :param orientation_weight: metres of position error one radian of orientation error
            counts as (weights the angular rows).
        :param max_error_m: longest (weighted) pose error one iteration steps toward, m; farther
            targets are approached this much per iteration.
        :return: joint positions within the spec's position limits, spec order.
        :raises ValueError: inputs of the wrong shape or not finite, ``damping`` or ``max_error_m`` <= 0.
        """
        q_now = self._check(q).copy()
        position = _finite_vector(target_position, 3, "target_position")
        quat_target = None
        if target_quaternion is not None:
            quat_target = _finite_vector(target_quaternion, 4, "target_quaternion")
            norm = np.linalg.norm(quat_target)
            if norm == 0:
                raise ValueError("target_quaternion is zero; give a unit quaternion w x y z")
            quat_target = quat_target / norm
        if not damping > 0:
            raise ValueError(f"damping must be > 0, got {damping}")
        if not max_error_m > 0:
            raise ValueError(f"max_error_m must be > 0, got {max_error_m}")
        rows = 6 if quat_target is not None else 3
        jac, error = self._jac_dof[:rows], self._error[:rows]
        normal, multiplier, step = self._normal[rows], self._multiplier[rows], self._step
        regularizer = self._identity[rows] * damping
        np.maximum(q_now, self._lower, out=q_now)  # a start outside the limits is taken from inside them
        np.minimum(q_now, self._upper, out=q_now)
        for _ in range(iterations):
            self._set(q_now)
            self._update_jacobian()  # fills self._jac_dof
            np.subtract(position, self._site_xpos, out=self._error[:3])
            if quat_target is not None:
                mujoco.mju_mat2Quat(self._quat, self._site_xmat)
                mujoco.mju_negQuat(self._quat_conj, self._quat)
                mujoco.mju_mulQuat(self._quat_diff, quat_target, self._quat_conj)  # world-frame rotation
                mujoco.mju_quat2Vel(self._error[3:], self._quat_diff, 1.0)
                self._jac_dof[3:] *= orientation_weight
                self._error[3:] *= orientation_weight
            # Clamp the error (Buss & Kim 2005): a far target pulls with a bounded step along a
            # straight line toward it, instead of a huge linearized jump that lands anywhere.
            error_norm = mujoco.mju_norm(error)
            if error_norm > max_error_m:
                error *= max_error_m / error_norm
            # dq = Jᵀ (J Jᵀ + λ I)⁻¹ e by Cholesky; MuJoCo's routines for these 3x3 / 6x6 systems
            # cost a fraction of numpy's per-call overhead, which dominates at this size.
            mujoco.mju_mulMatMatT(normal, jac, jac)
            mujoco.mju_addTo(normal.reshape(-1), regularizer)
            mujoco.mju_cholFactor(normal, 0.0)
            mujoco.mju_cholSolve(multiplier, normal, error)
            mujoco.mju_mulMatTVec(step, jac, multiplier)
            mujoco.mju_addTo(q_now, step)
            np.maximum(q_now, self._lower, out=q_now)
            np.minimum(q_now, self._upper, out=q_now)
        return q_now

    def _check(self, q: ArrayLike) -> NDArray[np.float64]:
        return _finite_vector(q, self._spec.dof, "q")

    def _set(self, q: NDArray[np.float64]) -> None:
        if self._qpos_slice is not None:
            self._data.qpos[self._qpos_slice] = q
        else:
            self._data.qpos[self._qpos_index] = q

    def _update_jacobian(self) -> None:
        """Kinematics and the spec joints' site Jacobian (into ``_jac_dof``) at the current ``qpos``."""
        mujoco.mj_kinematics(self._model, self._data)
        mujoco.mj_comPos(self._model, self._data)  # mj_jacSite reads the com-based frames it computes
        jac = self._jac_dof if self._direct else self._jac
        mujoco.mj_jacSite(self._model, self._data, jac[:3], jac[3:], self._site)
        if not self._direct:
            columns = self._dof_slice if self._dof_slice is not None else self._dof_index
            np.copyto(self._jac_dof, self._jac[:, columns])


def _as_slice(index: NDArray[np.int_]) -> slice | None:
    """``index`` as a slice when it is a contiguous increasing run, else ``None``."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return None


def _finite_vector(value: ArrayLike, size: int, name: str) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (size,):
        raise ValueError(f"{name} must have {size} values, got {array.size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array}")
    return array
