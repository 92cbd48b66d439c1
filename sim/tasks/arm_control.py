"""An arm's side of a task: policy actions to joint-position commands, and joint features.

Actions are in [-1, 1] and become a joint-position :class:`hardware.Command` from the measured
state, the same in simulation and on a robot:

- ``"ee_delta"`` (the default of reach and push, as in ``DESIGN.md``): a Cartesian displacement
  of the end effector of at most ``max_ee_step_m`` per axis, from where the arm is; the target is
  kept inside a workspace box and turned into joint positions by damped least-squares IK
  (:meth:`sim.kinematics.ArmKinematics.solve`) holding the home tool orientation;
- ``"joint_delta"``: a displacement of each joint of at most ``max_joint_step_rad``.

A zero action therefore asks the arm to stay where it is. A non-finite action gives a NaN
command, which the safety layer replaces by a hold (as it does on the robot).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState
from sim.kinematics import ArmKinematics
from sim.tasks.task import unit_action

ArmActionType = Literal["ee_delta", "joint_delta"]
ARM_ACTION_TYPES: tuple[str, ...] = get_args(ArmActionType)

#: Joint velocity features are clipped at this many times the joint's speed limit.
VELOCITY_FEATURE_BOUND = 2.0


class ArmActions:
    """Turns [-1, 1] actions into joint-position commands for a position-controlled arm.

    :param spec: the arm (``command_interface: position``).
    :param kinematics: the arm's kinematic model (forward kinematics and IK).
    :param action_type: ``"ee_delta"`` (3 values: x, y, z) or ``"joint_delta"`` (one per joint).
    :param max_ee_step_m: largest end-effector displacement per action and axis, m.
    :param max_joint_step_rad: largest joint displacement per action, rad.
    :param workspace_low: lowest end-effector target, world frame (x, y, z), m.
    :param workspace_high: highest end-effector target, world frame (x, y, z), m.
    :param ik_iterations: Gauss-Newton iterations of the IK per action. Two: each action starts
        again from the measured joints, so the IK need not converge in one call, but one
        iteration leaves millimetres of error when the tool must also turn back to its home
        orientation; each iteration costs about as much as the rest of the task's step.
    """

    def __init__(
        self,
        spec: RobotSpec,
        kinematics: ArmKinematics,
        *,
        action_type: str = "ee_delta",
        max_ee_step_m: float = 0.03,
        max_joint_step_rad: float = 0.1,
        workspace_low: ArrayLike,
        workspace_high: ArrayLike,
        ik_iterations: int = 2,
    ) -> None:
        if spec.command_interface != "position":
            raise ValueError(
                f"arm tasks send joint-position commands; '{spec.name}' takes {spec.command_interface} "
                f"commands (set command_interface: position in {spec.yaml_path.name})"
            )
        if action_type not in ARM_ACTION_TYPES:
            raise ValueError(f"action_type must be one of {list(ARM_ACTION_TYPES)}, got {action_type!r}")
        if not (max_ee_step_m > 0 and max_joint_step_rad > 0):
            raise ValueError(
                f"max_ee_step_m and max_joint_step_rad must be > 0, got {max_ee_step_m}, {max_joint_step_rad}"
            )
        self.spec = spec
        self.kinematics = kinematics
        self.action_type = action_type
        self.max_ee_step_m = float(max_ee_step_m)
        self.max_joint_step_rad = float(max_joint_step_rad)
        self.workspace_low = np.asarray(workspace_low, dtype=np.float64).reshape(3)
        self.workspace_high = np.asarray(workspace_high, dtype=np.float64).reshape(3)
        self.ik_iterations = ik_iterations
        # The tool keeps the orientation it has at home (e.g. pointing down): reach and push
        # move the end effector, they do not turn it.
        self.home_quaternion = kinematics.forward(spec.home_position).quaternion

    @property
    def size(self) -> int:
        """Number of action values."""
        return 3 if self.action_type == "ee_delta" else self.spec.dof

    def command(self, action: ArrayLike, state: RobotState, ee_position: NDArray[np.float64] | None = None) -> Command:
        """The joint-position command for ``action`` from the measured joint positions.

        :param ee_position: the end effector's position at ``state``, m, when the caller has it
            already (saves a forward kinematics); computed when ``None``.
        """
        values = unit_action(action, self.size)
        q = state.position
        if not np.all(np.isfinite(values)):
            return Command.position(np.full(self.spec.dof, np.nan))
        if self.action_type == "joint_delta":
            target = q + values * self.max_joint_step_rad
            return Command.position(np.clip(target, self.spec.position_lower, self.spec.position_upper))
        here = self.kinematics.forward(q).position if ee_position is None else ee_position
        goal = np.clip(here + values * self.max_ee_step_m, self.workspace_low, self.workspace_high)
        return Command.position(self.kinematics.solve(q, goal, self.home_quaternion, iterations=self.ik_iterations))


class JointFeatures:
    """Joint positions and velocities of an arm, scaled for a network (constants precomputed:
    it runs every step).

    Positions: ``(q - home) / pi`` (a continuous joint's offset wrapped to [-pi, pi] first), so
    the start pose reads 0 and one unit is half a turn. Velocities: ``qd / max_velocity``,
    clipped to ``±VELOCITY_FEATURE_BOUND``. Order: positions then velocities, spec joint order.

    :param spec: the arm.
    """

    def __init__(self, spec: RobotSpec) -> None:
        lower, upper = spec.position_lower, spec.position_upper
        self._home = spec.home_position
        self._continuous = ~np.isfinite(lower) | ~np.isfinite(upper)
        self._scale = np.concatenate([np.full(spec.dof, 1 / math.pi), 1 / spec.max_velocity])
        velocity = np.full(spec.dof, VELOCITY_FEATURE_BOUND)
        #: Lower and upper bounds of the features.
        self.low = np.concatenate([np.where(self._continuous, -1.0, (lower - self._home) / math.pi), -velocity])
        self.high = np.concatenate([np.where(self._continuous, 1.0, (upper - self._home) / math.pi), velocity])

    def __call__(self, state: RobotState) -> NDArray[np.float64]:
        offset = state.position - self._home
        if self._continuous.any():
            wrapped = np.remainder(offset + math.pi, 2 * math.pi) - math.pi
            offset = np.where(self._continuous, wrapped, offset)
        features = np.concatenate([offset, state.velocity]) * self._scale
        return np.minimum(np.maximum(features, self.low), self.high)
