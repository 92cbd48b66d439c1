"""Goal-conditioned arm tasks: reach a point with the end effector, push a block to a target.

Both follow the Fetch tasks' conventions (so SB3's ``HerReplayBuffer`` works unchanged):
``Dict`` observations with ``observation``, ``achieved_goal`` and ``desired_goal``; a reward of
the goals alone (:meth:`GoalTask.compute_reward`, vectorised); ``info["is_success"]``; no
termination, episodes are truncated by the environment's time limit.

Observation layout (float32), ``observation`` key:

- ``ArmReach``: joint positions ``(q - home) / pi`` (dof), joint velocities
  ``qd / max_velocity`` (dof), end-effector position (3, m, robot base frame).
- ``ArmPush``: the same, then the block's position (3, m), the block relative to the end
  effector (3, m), and ``sin 4·yaw, cos 4·yaw`` of the block (a cube looks the same every
  quarter turn, so its heading is read modulo 90 degrees).

``achieved_goal`` is the end effector (reach) or the block (push) position, ``desired_goal`` the
target, m. World frame = the arm's base frame (the arm stands at the origin).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState
from sim.kinematics import ArmKinematics
from sim.tasks.arm_control import ArmActions, JointFeatures
from sim.tasks.task import GoalTask, Observation, box, clipped
from sim.world import Marker, Pose, SimWorld, WorldLayout, WorldObject

#: Bound of every position feature, m (observations are clipped into their space).
POSITION_BOUND_M = 2.0
#: Policy rate the arm tasks aim for, Hz: ``control_steps_per_action`` defaults to
#: ``round(control_rate_hz / ARM_POLICY_RATE_HZ)``, at least 1 (a 100 Hz arm: 5 control periods
#: per action; the UR5e's 10 Hz loop: every period).
ARM_POLICY_RATE_HZ = 20.0
GOAL_MARKER = "goal"
BLOCK = "block"
TABLE = "table"


def _default_steps(spec: RobotSpec, control_steps_per_action: int | None) -> int:
    if control_steps_per_action is not None:
        return control_steps_per_action
    return max(1, round(spec.control_rate_hz / ARM_POLICY_RATE_HZ))


class _ArmGoalTask(GoalTask):
    """What reach and push share: kinematics, the action mapping, the joint features."""

    default_robot = "ur5e"

    def __init__(
        self,
        spec: RobotSpec,
        *,
        reward_type: str,
        action_type: str,
        distance_threshold: float,
        max_ee_step_m: float,
        max_joint_step_rad: float,
        control_steps_per_action: int | None,
        workspace_margin_m: tuple[ArrayLike, ArrayLike],
        search_path: Iterable[Path | str],
        extra_features: int,
    ) -> None:
        super().__init__(
            spec,
            control_steps_per_action=_default_steps(spec, control_steps_per_action),
            distance_threshold=distance_threshold,
            reward_type=reward_type,
        )
        self.kinematics = ArmKinematics(spec, search_path=search_path)
        self._ee_state: RobotState | None = None
        self._ee_position = np.zeros(3)
        #: End-effector position at the home pose, m: goals and objects are placed around it.
        self.home_ee = self.kinematics.forward(spec.home_position).position
        low_margin, high_margin = (np.asarray(m, dtype=np.float64) for m in workspace_margin_m)
        self.actions = ArmActions(
            spec,
            self.kinematics,
            action_type=action_type,
            max_ee_step_m=max_ee_step_m,
            max_joint_step_rad=max_joint_step_rad,
            workspace_low=self.home_ee - low_margin,
            workspace_high=self.home_ee + high_margin,
        )
        self.action_type = action_type
        self.action_space = spaces.Box(-1.0, 1.0, (self.actions.size,), dtype=np.float32)
        self.joint_features = JointFeatures(spec)
        joint_low, joint_high = self.joint_features.low, self.joint_features.high
        bound = np.full(3 + extra_features, POSITION_BOUND_M)
        self._goal_box = box(np.full(3, -POSITION_BOUND_M), np.full(3, POSITION_BOUND_M))
        self._features_box = box(np.concatenate([joint_low, -bound]), np.concatenate([joint_high, bound]))
        self.observation_space = spaces.Dict(
            {"observation": self._features_box, "achieved_goal": self._goal_box, "desired_goal": self._goal_box}
        )

    def command(self, action: ArrayLike, state: RobotState) -> Command:
        return self.actions.command(action, state, self.end_effector(state))

    def end_effector(self, state: RobotState) -> NDArray[np.float64]:
        """End-effector position from the measured joints, m (remembered for the last state:
        a step observes a state and then acts from it)."""
        if state is not self._ee_state:
            self._ee_state, self._ee_position = state, self.kinematics.forward(state.position).position
        return self._ee_position

    def _observation(
        self, state: RobotState, features: NDArray[np.float64], achieved: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float32]]:
        return {
            "observation": clipped(np.concatenate([self.joint_features(state), features]), self._features_box),
            "achieved_goal": clipped(achieved, self._goal_box),
            "desired_goal": clipped(self.goal, self._goal_box),
        }


class ArmReach(_ArmGoalTask):
    """Bring the end effector to a target point (FetchReach for any position-controlled arm).

    The goal is drawn uniformly in a cube of half-side ``goal_range_m`` around the end effector's
    home position; a green marker shows it.

    :param spec: an arm with an end-effector link and position control.
    :param reward_type: ``"sparse"`` (0 within ``distance_threshold``, else -1) or ``"dense"``
        (minus the distance, m).
    :param action_type: ``"ee_delta"`` (end-effector displacement, default) or ``"joint_delta"``.
    :param distance_threshold: success radius, m.
    :param goal_range_m: half-side of the goal cube, m.
    :param max_ee_step_m: largest end-effector displacement per action and axis, m.
    :param max_joint_step_rad: largest joint displacement per action (``joint_delta``), rad.
    :param control_steps_per_action: control periods per action; default: the number closest to
        acting at :data:`ARM_POLICY_RATE_HZ`, at least one (the UR5e, at 10 Hz: one).
    :param search_path: extra folders for the URDF's meshes (the kinematic model).
    """

    default_max_episode_steps = 50

    def __init__(
        self,
        spec: RobotSpec,
        *,
        reward_type: str = "sparse",
        action_type: str = "ee_delta",
        distance_threshold: float = 0.05,
        goal_range_m: float = 0.15,
        max_ee_step_m: float = 0.03,
        max_joint_step_rad: float = 0.1,
        control_steps_per_action: int | None = None,
        search_path: Iterable[Path | str] = (),
    ) -> None:
        if not goal_range_m >= 0:
            raise ValueError(f"goal_range_m must be >= 0 m, got {goal_range_m}")
        # The end effector may go a little beyond the goal cube (overshoot, approach), no further.
        margin = np.full(3, goal_range_m + 0.1)
        super().__init__(
            spec,
            reward_type=reward_type,
            action_type=action_type,
            distance_threshold=distance_threshold,
            max_ee_step_m=max_ee_step_m,
            max_joint_step_rad=max_joint_step_rad,
            control_steps_per_action=control_steps_per_action,
            workspace_margin_m=(margin, margin),
            search_path=search_path,
            extra_features=0,
        )
        self.goal_range_m = float(goal_range_m)

    def world_layout(self) -> WorldLayout:
        return WorldLayout(markers=(Marker(GOAL_MARKER, radius_m=0.02, position=tuple(self.home_ee)),))

    def reset(self, world: SimWorld, state: RobotState, rng: np.random.Generator) -> None:
        self.set_goal(self.home_ee + rng.uniform(-self.goal_range_m, self.goal_range_m, 3))
        world.set_marker(GOAL_MARKER, self.goal)

    def observe(self, state: RobotState, objects: Mapping[str, Pose] | None = None) -> Observation:
        ee = self.end_effector(state)
        return self._observation(state, ee, ee)


class ArmPush(_ArmGoalTask):
    """Push a block across a table to a target (FetchPush with the tool's flange as the pusher).

    A table stands in front of the arm, its top ``table_drop_m`` below the end effector's home
    height; a cube of half-side ``block_half_size_m`` starts within ``object_range_m`` of the
    point under the home end effector (never right under it), and the target lies on the table
    within ``target_range_m`` of that point, at least ``min_target_distance_m`` from the block.
    The block's pose is an input of :meth:`observe` (perception on a robot).

    :param spec: an arm with an end-effector link and position control.
    :param reward_type: ``"sparse"`` (default) or ``"dense"``, of the block-to-target distance.
    :param action_type: ``"ee_delta"`` (default) or ``"joint_delta"``.
    :param distance_threshold: success radius of the block, m.
    :param table_drop_m: home end-effector height above the table top, m.
    :param block_half_size_m: half the block's side, m.
    :param block_mass_kg: block mass, kg.
    :param object_range_m: half-side of the square the block starts in, m.
    :param target_range_m: half-side of the square the target is drawn in, m.
    :param min_target_distance_m: least distance between the block's start and the target, m.
    :param max_ee_step_m: largest end-effector displacement per action and axis, m.
    :param max_joint_step_rad: largest joint displacement per action (``joint_delta``), rad.
    :param control_steps_per_action: control periods per action; default: the number closest to
        acting at :data:`ARM_POLICY_RATE_HZ`, at least one (the UR5e, at 10 Hz: one).
    :param search_path: extra folders for the URDF's meshes.
    """

    default_max_episode_steps = 100
    observed_objects = (BLOCK,)

    def __init__(
        self,
        spec: RobotSpec,
        *,
        reward_type: str = "sparse",
        action_type: str = "ee_delta",
        distance_threshold: float = 0.05,
        table_drop_m: float = 0.19,
        block_half_size_m: float = 0.025,
        block_mass_kg: float = 0.1,
        object_range_m: float = 0.15,
        target_range_m: float = 0.15,
        min_target_distance_m: float = 0.1,
        max_ee_step_m: float = 0.03,
        max_joint_step_rad: float = 0.1,
        control_steps_per_action: int | None = None,
        search_path: Iterable[Path | str] = (),
    ) -> None:
        self.block_half_size_m = float(block_half_size_m)
        self.block_mass_kg = float(block_mass_kg)
        self.object_range_m = float(object_range_m)
        self.target_range_m = float(target_range_m)
        self.min_target_distance_m = float(min_target_distance_m)
        reach = max(object_range_m, target_range_m) + 0.15
        # The flange may come down to 1 cm above the table (it pushes with its side), no lower.
        low = np.array([reach, reach, table_drop_m - 0.01])
        high = np.array([reach, reach, 0.1])
        super().__init__(
            spec,
            reward_type=reward_type,
            action_type=action_type,
            distance_threshold=distance_threshold,
            max_ee_step_m=max_ee_step_m,
            max_joint_step_rad=max_joint_step_rad,
            control_steps_per_action=control_steps_per_action,
            workspace_margin_m=(low, high),
            search_path=search_path,
            extra_features=3 + 3 + 2,
        )
        if not 0 < table_drop_m < self.home_ee[2]:
            raise ValueError(
                f"table_drop_m must be in (0, {self.home_ee[2]:.3f}) m (the home end-effector height), "
                f"got {table_drop_m}"
            )
        self.table_top_m = float(self.home_ee[2] - table_drop_m)
        self.block_rest_z = self.table_top_m + self.block_half_size_m

    def world_layout(self) -> WorldLayout:
        x, y, _ = self.home_ee
        h = self.block_half_size_m
        # The table reaches from just past the arm's base to beyond every target.
        half_x = self.object_range_m + 0.15
        half_y = max(self.object_range_m, self.target_range_m) + 0.2
        table = WorldObject(
            TABLE,
            "box",
            size=(half_x, half_y, self.table_top_m / 2),
            position=(float(x) + 0.05, float(y), self.table_top_m / 2),
            rgba=(0.55, 0.42, 0.3, 1.0),
        )
        block = WorldObject(
            BLOCK,
            "box",
            size=(h, h, h),
            position=(float(x), float(y) + 2 * self.object_range_m, self.block_rest_z),
            mass_kg=self.block_mass_kg,
            rgba=(0.85, 0.2, 0.15, 1.0),
        )
        marker = Marker(GOAL_MARKER, radius_m=h, position=(float(x), float(y), self.block_rest_z))
        return WorldLayout(objects=(table, block), markers=(marker,))

    def reset(self, world: SimWorld, state: RobotState, rng: np.random.Generator) -> None:
        centre = self.home_ee[:2]
        block = centre + rng.uniform(-self.object_range_m, self.object_range_m, 2)
        # Never right under the tool (it would come down on the block), as FetchPush does.
        while np.linalg.norm(block - centre) < 2 * self.block_half_size_m + 0.05:
            block = centre + rng.uniform(-self.object_range_m, self.object_range_m, 2)
        target = centre + rng.uniform(-self.target_range_m, self.target_range_m, 2)
        while np.linalg.norm(target - block) < self.min_target_distance_m:
            target = centre + rng.uniform(-self.target_range_m, self.target_range_m, 2)
        world.set_object_pose(BLOCK, [*block, self.block_rest_z], float(rng.uniform(-np.pi, np.pi)))
        self.set_goal([*target, self.block_rest_z])
        world.set_marker(GOAL_MARKER, self.goal)

    def observe(self, state: RobotState, objects: Mapping[str, Pose] | None = None) -> Observation:
        if objects is None or BLOCK not in objects:
            raise KeyError(f"ArmPush.observe needs the block's pose: pass objects={{'{BLOCK}': Pose(...)}}")
        pose = objects[BLOCK]
        ee = self.end_effector(state)
        block = np.asarray(pose.position, dtype=np.float64)
        yaw4 = 4.0 * pose.yaw_rad
        features = np.concatenate([ee, block, block - ee, [np.sin(yaw4), np.cos(yaw4)]])
        return self._observation(state, features, block)
