"""What a task is: observation, action, reward and goal, computed from a robot's state alone.

A task never touches a simulator. Its observation and reward come from a
:class:`hardware.RobotState` (plus, where the task needs an object, that object's pose passed in
as data: from the simulator in training, from perception on a robot), and its actions become a
:class:`hardware.Command` for the safety layer. So the ROS policy node builds the same
observation from a real robot's state by calling the same :meth:`Task.observe`.

Only :meth:`Task.reset` (sample a goal, place objects, move markers) and :meth:`Task.sim_info`
(ground-truth measures such as coverage) are simulation-only; they go through the small
:class:`sim.world.SimWorld` interface.

Rates: the robot's controller runs at ``spec.control_rate_hz``; the policy acts every
``control_steps_per_action`` control periods (the same command written each period through the
safety layer, which ramps toward it). An episode lasts ``max_episode_steps`` policy steps.

On a robot (what ``sim.envs.SimEnv.step`` does, without the simulator)::

    task = sim.tasks.make_task(name, spec, **task_settings)
    task.set_goal(goal)                    # goal-conditioned tasks and BaseNavigate
    task.begin(state)
    every control_steps_per_action control periods:
        observation = task.observe(state, object_poses)   # object_poses for task.observed_objects
        command = task.command(policy(observation), state)
    every control period: safe_robot.read(); safe_robot.write(command)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState
from sim.world import Pose, SimWorld, WorldLayout

Observation = NDArray[np.float32] | dict[str, NDArray[np.float32]]


@dataclass(frozen=True)
class Outcome:
    """What one policy step earned.

    :param reward: the sum of ``terms``.
    :param terminated: the episode ended in a terminal state (e.g. the goal reached).
    :param info: measures for ``info`` (``is_success``, distances, the named reward terms).
    """

    reward: float
    terminated: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class Task(ABC):
    """A task for one robot: spaces, action to command, observation, reward.

    :param spec: the robot the task runs on.
    :param control_steps_per_action: control periods per policy step (policy rate =
        ``spec.control_rate_hz / control_steps_per_action``).
    """

    #: The shipped robot this task is written for (``robots.robot_yaml`` name).
    default_robot: str = ""
    #: Episode length in policy steps that the registered environment uses.
    default_max_episode_steps: int = 100
    #: Names of the world objects whose poses :meth:`observe` needs, in order.
    observed_objects: tuple[str, ...] = ()

    observation_space: spaces.Space[Any]
    action_space: spaces.Box

    def __init__(self, spec: RobotSpec, *, control_steps_per_action: int) -> None:
        if control_steps_per_action < 1:
            raise ValueError(f"control_steps_per_action must be >= 1, got {control_steps_per_action}")
        self.spec = spec
        self.control_steps_per_action = int(control_steps_per_action)

    @property
    def policy_rate_hz(self) -> float:
        """How often the policy acts, Hz."""
        return self.spec.control_rate_hz / self.control_steps_per_action

    # --- simulation only -----------------------------------------------------------------------

    @abstractmethod
    def world_layout(self) -> WorldLayout:
        """The objects and markers this task needs around the robot."""

    def resample_world(self, rng: np.random.Generator) -> bool:
        """Draw a new world for the next episode; True when :meth:`world_layout` changed (the
        simulator must then be rebuilt). Fixed worlds return False."""
        return False

    @abstractmethod
    def reset(self, world: SimWorld, state: RobotState, rng: np.random.Generator) -> None:
        """Start an episode in simulation: sample the goal, place objects, move markers. The
        environment then reads the robot again and calls :meth:`begin` with that state.

        :param world: the simulated world (just reset).
        :param state: the robot's state after its reset.
        :param rng: the episode's random generator (seeded by the environment's reset).
        """

    def sim_info(self, world: SimWorld) -> dict[str, Any]:
        """Ground-truth measures for ``info`` that a real robot could not give (none by default)."""
        return {}

    # --- the same in simulation and on a robot ------------------------------------------------

    def begin(self, state: RobotState) -> None:
        """Start an episode from ``state``: clear per-episode memory. The environment calls it
        after :meth:`reset`; a robot's policy node calls it after setting the goal (if any).
        Tasks without per-episode memory keep this default, which does nothing."""
        return None

    @abstractmethod
    def command(self, action: ArrayLike, state: RobotState) -> Command:
        """The command for ``action`` (in ``action_space``, clipped into it; NaN passes through
        as a non-finite command for the safety layer to reject) from the measured ``state``."""

    @abstractmethod
    def observe(self, state: RobotState, objects: Mapping[str, Pose] | None = None) -> Observation:
        """The observation (in ``observation_space``) of ``state`` and the poses of
        :attr:`observed_objects`."""

    @abstractmethod
    def evaluate(self, observation: Observation, state: RobotState) -> Outcome:
        """Reward, termination and info of arriving at ``observation`` (made from ``state``)."""


class GoalTask(Task):
    """A goal-conditioned task: ``Dict`` observations (``observation``, ``achieved_goal``,
    ``desired_goal``) and a reward of the goals alone, so that HER can relabel goals.

    Sparse reward (``"sparse"``, as the Fetch tasks): 0 when the achieved goal is within
    ``distance_threshold`` of the desired goal, else -1. Dense (``"dense"``): minus the distance,
    m. Episodes do not terminate on success (the Fetch convention); they are truncated.

    :param distance_threshold: success radius, m.
    :param reward_type: ``"sparse"`` or ``"dense"``.
    """

    def __init__(
        self,
        spec: RobotSpec,
        *,
        control_steps_per_action: int,
        distance_threshold: float,
        reward_type: str,
    ) -> None:
        super().__init__(spec, control_steps_per_action=control_steps_per_action)
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        if not distance_threshold > 0:
            raise ValueError(f"distance_threshold must be > 0 m, got {distance_threshold}")
        self.reward_type = reward_type
        self.distance_threshold = float(distance_threshold)
        self._goal: NDArray[np.float64] | None = None

    @property
    def goal(self) -> NDArray[np.float64]:
        """The desired goal, world frame, m (``reset`` samples it; a robot sets it)."""
        if self._goal is None:
            raise RuntimeError(f"{type(self).__name__} has no goal yet; call reset() or set_goal() first")
        return self._goal

    def set_goal(self, goal: ArrayLike) -> None:
        """Set the desired goal (e.g. from a ROS topic), m."""
        value = np.asarray(goal, dtype=np.float64).reshape(-1)
        size = self.observation_space["desired_goal"].shape[0]  # type: ignore[index]
        if value.shape != (size,) or not np.all(np.isfinite(value)):
            raise ValueError(f"goal must be {size} finite values (m), got {goal!r}")
        self._goal = value

    def goal_distance(self, achieved_goal: ArrayLike, desired_goal: ArrayLike) -> NDArray[np.float64]:
        """Euclidean distance over the last axis, m (vectorised over leading batch axes)."""
        difference = np.asarray(achieved_goal, dtype=np.float64) - np.asarray(desired_goal, dtype=np.float64)
        # One formula for single goals and batches (np.linalg.norm takes another path for a single
        # vector), so a batched reward equals the per-sample one bit for bit.
        return np.sqrt(np.sum(difference * difference, axis=-1))

    def compute_reward(self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any = None) -> Any:
        """Reward of reaching ``achieved_goal`` when ``desired_goal`` was wanted.

        Vectorised: goals of shape ``(..., goal_size)`` give rewards of shape ``(...)`` (a float
        for single goals), as SB3's ``HerReplayBuffer`` calls it. ``info`` is not used.
        """
        return self._reward(self.goal_distance(achieved_goal, desired_goal))

    def _reward(self, distance: NDArray[np.float64]) -> Any:
        if self.reward_type == "sparse":
            reward = -(distance > self.distance_threshold).astype(np.float32)
        else:
            reward = -distance.astype(np.float32)
        return reward if reward.ndim else float(reward)

    def evaluate(self, observation: Observation, state: RobotState) -> Outcome:
        assert isinstance(observation, dict)
        achieved, desired = observation["achieved_goal"], observation["desired_goal"]
        distance_array = self.goal_distance(achieved, desired)
        reward = self._reward(distance_array)  # = compute_reward(achieved, desired), one distance
        distance = float(distance_array)
        info = {
            "is_success": distance <= self.distance_threshold,
            "goal_distance_m": distance,
            "reward_terms": {"goal": reward},
        }
        return Outcome(reward=reward, info=info)


def flat_observation(observation: Observation) -> tuple[NDArray[np.float64], list[tuple[str, int]]]:
    """An observation as one float64 vector and its named segments ``(key, size)``, in the order
    the task builds it (a goal task's ``observation``, ``achieved_goal``, ``desired_goal``).

    The one definition of the flat layout that is recorded in bags and published by the policy
    node; a flat (``Box``) observation is one segment named ``observation``.
    """
    if isinstance(observation, Mapping):
        labels = [(str(key), int(np.size(value))) for key, value in observation.items()]
        values = np.concatenate([np.ravel(value) for value in observation.values()])
    else:
        values = np.ravel(observation)
        labels = [("observation", int(values.size))]
    return values.astype(np.float64), labels


def box(low: ArrayLike, high: ArrayLike) -> spaces.Box:
    """A float32 Box with per-element bounds."""
    return spaces.Box(np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32), dtype=np.float32)


def clipped(values: ArrayLike, space: spaces.Box) -> NDArray[np.float32]:
    """``values`` as float32, clipped into ``space`` (observations always lie in their space)."""
    # minimum/maximum: np.clip's dispatch costs more than the work on a short vector.
    return np.minimum(np.maximum(np.asarray(values, dtype=np.float32), space.low), space.high)


def unit_action(action: ArrayLike, size: int) -> NDArray[np.float64]:
    """An action clipped to [-1, 1] per element; NaN and inf are kept (the safety layer rejects
    a non-finite command, as it would a broken policy's on the robot).

    :raises ValueError: the action has the wrong number of values.
    """
    values = np.asarray(action, dtype=np.float64).reshape(-1)
    if values.shape != (size,):
        raise ValueError(f"action must have {size} values in [-1, 1], got shape {np.shape(action)}")
    finite = np.isfinite(values)
    if finite.all():
        return np.minimum(np.maximum(values, -1.0), 1.0)
    return np.where(finite, np.clip(np.where(finite, values, 0.0), -1.0, 1.0), values)
