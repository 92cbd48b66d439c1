"""Tasks: observation, action, reward and goal from a robot's state, the same in sim and on a robot.

- :class:`Task`, :class:`GoalTask`, :class:`Outcome`: the contract (see :mod:`sim.tasks.task`).
- :class:`ArmReach`, :class:`ArmPush`: goal-conditioned arm tasks (HER-ready).
- :class:`BaseNavigate`, :class:`BaseExplore`: mobile-base tasks in seeded mazes.
- :func:`make_task`: a task by name for a robot spec (what the environments and the policy
  node call).
"""

from __future__ import annotations

from typing import Any

from hardware.spec import RobotSpec
from sim.tasks.arm import ArmPush, ArmReach
from sim.tasks.arm_control import ARM_ACTION_TYPES, ArmActions, JointFeatures
from sim.tasks.base_control import relative_goal, scan_features, twist_command, velocity_features
from sim.tasks.mobile import BaseExplore, BaseNavigate
from sim.tasks.task import GoalTask, Observation, Outcome, Task, flat_observation

#: Every task by name.
TASKS: dict[str, type[Task]] = {
    "ArmReach": ArmReach,
    "ArmPush": ArmPush,
    "BaseNavigate": BaseNavigate,
    "BaseExplore": BaseExplore,
}


def make_task(name: str, spec: RobotSpec, **kwargs: Any) -> Task:
    """The task called ``name`` (a key of :data:`TASKS`) for ``spec``, with its keyword settings.

    :raises ValueError: an unknown task name.
    """
    try:
        task_class = TASKS[name]
    except KeyError:
        raise ValueError(f"no task '{name}'; tasks are {sorted(TASKS)}") from None
    return task_class(spec, **kwargs)


__all__ = [
    "ARM_ACTION_TYPES",
    "TASKS",
    "ArmActions",
    "ArmPush",
    "ArmReach",
    "BaseExplore",
    "BaseNavigate",
    "GoalTask",
    "JointFeatures",
    "Observation",
    "Outcome",
    "Task",
    "flat_observation",
    "make_task",
    "relative_goal",
    "scan_features",
    "twist_command",
    "velocity_features",
]
