"""Gymnasium environments: a simulated robot, its safety layer, a task and domain randomization.

``import sim.envs`` registers one environment per task (:data:`ENV_IDS`)::

    import gymnasium as gym
    import sim.envs  # noqa: F401  (registers sim2real/*)

    env = gym.make("sim2real/ArmReach-v0", backend="pybullet", reward_type="dense")
    env = gym.make("sim.envs:sim2real/BaseNavigate-v0", maze_seed=None)  # imports sim.envs itself

Keyword arguments that :class:`SimEnv` does not take go to the task (e.g. ``reward_type``,
``action_type``, ``maze_seed``); the episode length is the registration's ``max_episode_steps``
(the task's ``default_max_episode_steps``).

One policy step: the task turns the action into a command from the last measured state; the
command is written ``task.control_steps_per_action`` times, once per control period, through
:class:`hardware.safety.SafeRobot` after reading the robot (a fresh state for the watchdog; the
layer ramps toward the command under the robot's limits, exactly as on the robot); then the
robot is read and the task observes and scores the new state. A policy node on a robot does
the same: it re-sends the policy's command through the safety layer every control period.

``info`` at reset: ``dynamics`` (this episode's physics, :meth:`DynamicsParams.as_info`) and the
task's ground-truth measures. At every step: the task's measures (``is_success`` where defined,
named ``reward_terms``) and what the safety layer did during the step: ``safety_held`` (a hold
was sent: e-stop or stale state), ``command_clamped`` (the command was limited or filtered),
``command_nonfinite`` (it had NaN or inf and was replaced by a stop).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.safety import SafeRobot
from hardware.spec import RobotSpec
from hardware.state import RobotState
from robots import robot_yaml
from sim.backends import BACKENDS, make_robot
from sim.tasks import TASKS, GoalTask, Observation, Task, make_task
from sim.world import Pose

#: The registered environment ids, by task name.
ENV_IDS: dict[str, str] = {name: f"sim2real/{name}-v0" for name in TASKS}


class SimEnv(gymnasium.Env[Observation, NDArray[Any]]):
    """A task on a simulated robot, behind the robot's safety layer.

    :param task: a task name (a key of :data:`sim.tasks.TASKS`) or a built :class:`Task`.
    :param robot: the robot: a shipped robot's name, a robot YAML path, or a spec; the task's
        ``default_robot`` when ``None`` (must be ``None`` with a built task: it has its spec).
    :param backend: ``"mujoco"`` or ``"pybullet"``.
    :param render_mode: ``None`` or ``"rgb_array"`` (frames from the simulator's renderer).
    :param randomization: domain randomization drawn at every reset: a config mapping, a YAML
        path (:mod:`sim.randomization`), or a built ``DomainRandomization``; ``None`` runs the
        nominal robot.
    :param render_width: frame width, px. :param render_height: frame height, px.
    :param search_path: extra folders for the URDF's meshes.
    :param task_kwargs: the task's settings (with a task name only).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str | Task,
        *,
        robot: str | Path | RobotSpec | None = None,
        backend: str = "mujoco",
        render_mode: str | None = None,
        randomization: Mapping[str, Any] | str | Path | Any | None = None,
        render_width: int = 480,
        render_height: int = 360,
        search_path: Iterable[Path | str] = (),
        **task_kwargs: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend '{backend}' is not a simulator here; use one of {list(BACKENDS)}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self._search_path = tuple(search_path)
        if isinstance(task, Task):
            if robot is not None or task_kwargs:
                raise ValueError(
                    "a built task already has its robot and settings; "
                    "pass robot= and task settings only with a task name"
                )
            self.task = task
        else:
            spec = _robot_spec(robot if robot is not None else _task_class(task).default_robot)
            if "search_path" in _init_parameters(_task_class(task)):
                task_kwargs.setdefault("search_path", self._search_path)
            self.task = make_task(task, spec, **task_kwargs)
        self.robot_spec: RobotSpec = self.task.spec
        self.backend = backend
        self.render_mode = render_mode
        self.render_size = (int(render_width), int(render_height))
        self.metadata = {**type(self).metadata, "render_fps": self.task.policy_rate_hz}
        self.observation_space = self.task.observation_space
        self.action_space = self.task.action_space
        from sim.randomization import as_randomization

        self.randomization = as_randomization(randomization, self.robot_spec)
        self._robot: SafeRobot | None = None
        self._sim: Any = None
        self._state: RobotState | None = None
        self._last_command: Command | None = None
        self._build_robot()

    # --- the simulator -------------------------------------------------------------------------

    @property
    def sim(self) -> Any:
        """The raw simulated robot (``MujocoRobot`` or ``PybulletRobot``; also the task's world)."""
        return self._sim

    @property
    def robot(self) -> SafeRobot:
        """The robot as the policy drives it: the simulator behind the safety layer."""
        if self._robot is None:
            raise RuntimeError("the environment is closed; call reset() to build its simulator again")
        return self._robot

    @property
    def state(self) -> RobotState:
        """The robot state of the last observation."""
        if self._state is None:
            raise RuntimeError("call reset() before reading the state")
        return self._state

    @property
    def last_command(self) -> Command | None:
        """The command the safety layer sent in the last control period (``None`` before a step)."""
        return self._last_command

    def _build_robot(self) -> None:
        if self._robot is not None:
            self._robot.close()
        self._sim = make_robot(
            self.robot_spec, self.backend, world=self.task.world_layout(), search_path=self._search_path
        )
        self._robot = SafeRobot(self._sim, clock_ns=self._sim.now_ns)

    def _objects(self) -> dict[str, Pose]:
        return {name: self._sim.object_pose(name) for name in self.task.observed_objects}

    # --- gymnasium.Env -------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode; ``seed`` fixes everything drawn for it (maze if per episode, physics,
        start state, goal), so the same seed gives the same first observation, bit for bit."""
        super().reset(seed=seed)
        rng = self.np_random
        if self.task.resample_world(rng) or self._robot is None:  # a new maze, or closed before
            self._build_robot()
        if self.randomization is not None:
            self._sim.set_dynamics(self.randomization.sample(rng))
        robot = self.robot
        state = robot.reset(seed=int(rng.integers(2**63)))
        self.task.reset(self._sim, state, rng)
        # The task may have moved the base or objects: start the layer and the task from here.
        state = robot.read()
        robot.layer.reset(state)
        self._last_command = None
        self.task.begin(state)
        self._state = state
        observation = self.task.observe(state, self._objects())
        info = {"dynamics": self._sim.dynamics.as_info(), **self.task.sim_info(self._sim)}
        return observation, info

    def step(self, action: ArrayLike) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        robot, task = self.robot, self.task
        command = task.command(action, self.state)
        held = clamped = nonfinite = False
        for period in range(task.control_steps_per_action):
            if period:
                robot.read()  # every control period, as the robot's loop does: fresh state for the watchdog
            self._last_command = robot.write(command)
            report = robot.last_report
            held |= report.held
            clamped |= report.changed
            nonfinite |= report.nonfinite
        state = self._state = robot.read()
        observation = task.observe(state, self._objects())
        outcome = task.evaluate(observation, state)
        info = {
            **outcome.info,
            "safety_held": held,
            "command_clamped": clamped,
            "command_nonfinite": nonfinite,
            **task.sim_info(self._sim),
        }
        return observation, outcome.reward, outcome.terminated, False, info

    def render(self) -> NDArray[np.uint8] | None:  # type: ignore[override]
        """An RGB frame (height, width, 3) with ``render_mode="rgb_array"``; ``None`` otherwise."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; make the env with render_mode='rgb_array'")
            return None
        self.robot  # noqa: B018  (raises if closed)
        width, height = self.render_size
        return self._sim.render(width, height)

    def close(self) -> None:
        """Release the simulator (the robot is left holding); a later :meth:`reset` builds it again."""
        if self._robot is not None:
            self._robot.close()
            self._robot = None
            self._state = None


class GoalSimEnv(SimEnv):
    """A :class:`SimEnv` for a goal-conditioned task, with the ``compute_reward`` that HER calls.

    Only goal-conditioned environments have ``compute_reward``: SB3 and Gymnasium take an env
    that has one for a goal env and check its ``Dict`` observation.
    """

    def __init__(self, task: str | Task, **kwargs: Any) -> None:
        super().__init__(task, **kwargs)
        if not isinstance(self.task, GoalTask):
            raise ValueError(f"{type(self.task).__name__} is not goal-conditioned; use SimEnv")

    def compute_reward(self, achieved_goal: ArrayLike, desired_goal: ArrayLike, info: Any) -> Any:
        """Reward of ``achieved_goal`` for ``desired_goal``, vectorised over leading batch axes."""
        assert isinstance(self.task, GoalTask)
        return self.task.compute_reward(achieved_goal, desired_goal, info)


def make_env(task: str | Task, **kwargs: Any) -> SimEnv:
    """A :class:`GoalSimEnv` for goal-conditioned tasks, else a :class:`SimEnv` (no time limit:
    ``gymnasium.make`` of a registered id adds it)."""
    goal = isinstance(task, GoalTask) or (isinstance(task, str) and issubclass(_task_class(task), GoalTask))
    return GoalSimEnv(task, **kwargs) if goal else SimEnv(task, **kwargs)


def register_envs() -> None:
    """Register ``sim2real/<Task>-v0`` for every task; registering again changes nothing."""
    for name, env_id in ENV_IDS.items():
        if env_id in gymnasium.registry:
            continue
        task_class = TASKS[name]
        entry = "GoalSimEnv" if issubclass(task_class, GoalTask) else "SimEnv"
        gymnasium.register(
            id=env_id,
            entry_point=f"sim.envs:{entry}",
            kwargs={"task": name},
            max_episode_steps=task_class.default_max_episode_steps,
        )


def _task_class(name: str) -> type[Task]:
    if name not in TASKS:
        raise ValueError(f"no task '{name}'; tasks are {sorted(TASKS)}")
    return TASKS[name]


def _init_parameters(task_class: type[Task]) -> tuple[str, ...]:
    return tuple(inspect.signature(task_class.__init__).parameters)


def _robot_spec(robot: str | Path | RobotSpec) -> RobotSpec:
    return robot if isinstance(robot, RobotSpec) else RobotSpec.from_yaml(robot_yaml(robot))


register_envs()
