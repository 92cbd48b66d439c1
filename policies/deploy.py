"""The deployment loop: a policy bundle driving a robot through its safety layer, without ROS.

:class:`PolicyRunner` is the loop of :mod:`sim.tasks.task` on a robot, one control period per
:meth:`PolicyRunner.tick`: read the state; every ``control_steps_per_action`` periods observe it,
ask the bundle for an action and turn it into a command; write the command through
:class:`hardware.safety.SafeRobot`. The ROS 2 policy node calls the same ``tick`` from its
steady-clock timer; nothing in it is simulation-only.

Simulation-only (evaluation, ``sim2real run``): :func:`run_episode` resets the simulated robot
and the task's world (goal, objects) and scores each policy step with the task's reward;
:func:`run_bundle` loads a bundle, builds the robot in MuJoCo or PyBullet and runs episodes,
optionally into a video. The sequence of reads and writes is :meth:`sim.envs.SimEnv.step`'s, so
a bundle scores in ``run_bundle`` what its policy scored in the training environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from hardware.command import Command
from hardware.safety import SafeRobot, SafetyReport
from hardware.spec import RobotSpec
from hardware.state import RobotState
from policies.bundle import Bundle, BundleError, load_bundle, read_metadata
from policies.metrics import EpisodeMetrics, continuity_cost

if TYPE_CHECKING:
    from episodes.recording import EpisodeRecorder


@dataclass(frozen=True)
class Tick:
    """One control period of :meth:`PolicyRunner.tick`.

    :param state: the state read at the start of the period.
    :param sent: the command the safety layer let through (and the robot was given).
    :param report: what the safety layer did to it.
    :param acted: the policy acted this period (``observation`` and ``action`` are set).
    :param observation: the task's observation of ``state`` (when ``acted``).
    :param action: the bundle's action for it, action-space units (when ``acted``).
    """

    state: RobotState
    sent: Command
    report: SafetyReport
    acted: bool
    observation: Any = None
    action: NDArray[np.float64] | None = None


@dataclass
class SafetyCounts:
    """Control periods in which the safety layer held, changed, or rejected the command."""

    writes: int = 0
    held: int = 0
    clamped: int = 0
    nonfinite: int = 0

    def add(self, report: SafetyReport) -> None:
        self.writes += 1
        self.held += report.held
        self.clamped += report.changed
        self.nonfinite += report.nonfinite


class PolicyRunner:
    """A bundle's policy driving ``robot`` through the safety layer, one control period a tick.

    :param bundle: the loaded, checked policy bundle.
    :param robot: any :class:`hardware.Robot`; wrapped in :class:`SafeRobot` unless it is one.
    :param task: the task that observes and commands (``bundle.make_task(robot.spec)`` when
        ``None``); set its goal (``task.set_goal``) before :meth:`start` where it has one.
    :param clock_ns: the clock of the robot's state stamps; the robot's ``now_ns`` (simulation
        time) when it has one, else ``time.monotonic_ns``.
    """

    def __init__(
        self, bundle: Bundle, robot: Any, task: Any = None, *, clock_ns: Callable[[], int] | None = None
    ) -> None:
        self.bundle = bundle
        self.task = task if task is not None else bundle.make_task(robot.spec)
        if self.task.control_steps_per_action != bundle.control_steps_per_action:
            raise ValueError(
                f"task acts every {self.task.control_steps_per_action} control periods, the bundle was trained "
                f"for {bundle.control_steps_per_action}; build the task with bundle.make_task(spec)"
            )
        if isinstance(robot, SafeRobot):
            self.robot = robot
        else:
            clock = clock_ns or getattr(robot, "now_ns", None) or time.monotonic_ns
            self.robot = SafeRobot(robot, clock_ns=clock)
        self.counts = SafetyCounts()
        self._period = 0
        self._command: Command | None = None

    @property
    def acts_next(self) -> bool:
        """The next :meth:`tick` observes and acts (give it the object poses the task needs)."""
        return self._period == 0

    def start(self) -> RobotState:
        """Begin an episode from the robot's current state: the safety layer starts from it (at
        rest), the task clears its per-episode memory, the next tick acts. Returns the state."""
        state = self.robot.read()
        self.robot.layer.reset(state)
        self.task.begin(state)
        self._period = 0
        self._command = None
        return state

    def restart_task(self) -> None:
        """Begin a new episode of the task from the current state (e.g. a new goal) while the
        robot may be moving: the safety layer keeps its memory, so motion stays within the
        rate limits; the next tick acts."""
        self.task.begin(self.robot.read())
        self._period = 0
        self._command = None

    def tick(self, objects: Mapping[str, Any] | None = None) -> Tick:
        """One control period: read; act if due; write the command through the safety layer.

        :param objects: poses of ``task.observed_objects`` (only read when :attr:`acts_next`).
        """
        state = self.robot.read()
        observation = action = None
        acted = self._period == 0 or self._command is None
        if acted:
            observation = self.task.observe(state, objects)
            action = self.bundle.act(observation)
            self._command = self.task.command(action, state)
            self._period = 0
        assert self._command is not None
        sent = self.robot.write(self._command)
        report = self.robot.last_report
        self.counts.add(report)
        self._period = (self._period + 1) % self.task.control_steps_per_action
        return Tick(state, sent, report, acted, observation, action)

    def hold(self) -> Command:
        """Send the hold command once (position: stay; others: stop), e.g. when deactivated."""
        state = self.robot.read()
        command = self.robot.layer.hold_command(state)
        self.robot.robot.write(command)
        self._period, self._command = 0, None
        return command


# --- simulation only -----------------------------------------------------------------------------


@dataclass
class EpisodeResult:
    """One episode of :func:`run_episode`.

    :param success: ``info["is_success"]`` after the last step (``None``: the task has none).
    :param episode_return: sum of the task's rewards. :param steps: policy steps taken.
    :param terminated: the task ended the episode (e.g. the goal reached).
    :param actions: the bundle's actions, ``(steps, action_size)``, action-space units.
    :param continuity_cost: of ``actions`` (:func:`policies.metrics.continuity_cost`).
    :param safety: what the safety layer did during the episode.
    :param final_info: the task's info (and ground truth) after the last step.
    """

    success: bool | None
    episode_return: float
    steps: int
    terminated: bool
    actions: NDArray[np.float64]
    continuity_cost: float
    safety: SafetyCounts
    final_info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Plain data for YAML (no actions)."""
        result: dict[str, Any] = {
            "return": self.episode_return,
            "success": self.success,
            "steps": self.steps,
            "terminated": self.terminated,
            "continuity_cost": self.continuity_cost,
            "safety": vars(self.safety).copy(),
        }
        if "coverage" in self.final_info:
            result["coverage"] = float(self.final_info["coverage"])
        return result


def run_episode(
    runner: PolicyRunner,
    world: Any,
    rng: np.random.Generator,
    *,
    max_steps: int | None = None,
    on_step: Callable[[], None] | None = None,
    recorder: EpisodeRecorder | None = None,
) -> EpisodeResult:
    """Reset the simulated robot and the task's world, then run the policy for one episode.

    :param world: the simulated robot behind ``runner.robot`` (a :class:`sim.world.SimWorld`).
    :param rng: draws the start state and the goal (the same generator gives the same episode).
    :param max_steps: policy steps; the bundle's episode length when ``None``.
    :param on_step: called after the reset and after every policy step (e.g. to grab a frame).
    :param recorder: records the episode (markers, every period's state and command sent, each
        policy step's observation, action and reward) when given.
    """
    task, robot = runner.task, runner.robot
    steps_left = runner.bundle.max_episode_steps if max_steps is None else max_steps
    state = robot.reset(seed=int(rng.integers(2**63)))
    task.reset(world, state, rng)
    state = runner.start()
    if recorder is not None:
        recorder.start_episode(state.stamp_ns)
    before = SafetyCounts(**vars(runner.counts))
    actions: list[NDArray[np.float64]] = []
    total, terminated = 0.0, False
    info: dict[str, Any] = {}
    if on_step is not None:
        on_step()
    while len(actions) < steps_left and not terminated:
        for _ in range(task.control_steps_per_action):
            tick = runner.tick(_objects(task, world) if runner.acts_next else None)
            if tick.action is not None:
                actions.append(tick.action)
            if recorder is not None:
                _record_tick(recorder, tick)
        state = robot.read()
        observation = task.observe(state, _objects(task, world))
        outcome = task.evaluate(observation, state)
        total += float(outcome.reward)
        if recorder is not None:
            recorder.write_reward(float(outcome.reward), state.stamp_ns)
        terminated = bool(outcome.terminated)
        info = {**outcome.info, **task.sim_info(world)}
        if on_step is not None:
            on_step()
    counts = runner.counts
    safety = SafetyCounts(*(getattr(counts, k) - getattr(before, k) for k in vars(counts)))
    values = np.array(actions, dtype=np.float64).reshape(len(actions), -1)
    low, high = task.action_space.low, task.action_space.high
    success = bool(info["is_success"]) if "is_success" in info else None
    if recorder is not None:
        recorder.end_episode(robot.read().stamp_ns, episode_outcome(success, terminated))
    return EpisodeResult(
        success, total, len(actions), terminated, values, continuity_cost(values, low, high), safety, info
    )


def episode_outcome(success: bool | None, terminated: bool) -> str:
    """The recorded outcome: ``success``; ``failure`` (ended by the task without success);
    ``timeout`` (out of steps); ``done`` (ended by a task that has no success)."""
    if success:
        return "success"
    if not terminated:
        return "timeout"
    return "done" if success is None else "failure"


def _record_tick(recorder: EpisodeRecorder, tick: Tick) -> None:
    stamp_ns = tick.state.stamp_ns
    recorder.write_state(tick.state)
    recorder.write_command(tick.sent, stamp_ns)
    if tick.acted:
        from sim.tasks import flat_observation

        recorder.write_observation(flat_observation(tick.observation)[0], stamp_ns)
        recorder.write_action(tick.action, stamp_ns)


def run_bundle(
    bundle_path: str | Path,
    backend: str = "mujoco",
    episodes: int = 3,
    seed: int = 0,
    robot: RobotSpec | str | Path | None = None,
    video: str | Path | None = None,
    randomization: Mapping[str, Any] | str | Path | None = None,
    *,
    max_steps: int | None = None,
    on_episode: Callable[[int, EpisodeResult], None] | None = None,
    record: str | Path | None = None,
) -> dict[str, Any]:
    """Load a bundle and evaluate it on a simulated robot; returns a YAML-ready summary.

    :param bundle_path: the bundle folder.
    :param backend: ``"mujoco"`` or ``"pybullet"``.
    :param episodes: episodes to run (>= 1). :param seed: seeds every episode's draws.
    :param robot: the robot (a spec, a shipped robot's name, or a robot YAML); the one the bundle
        was trained on when ``None``.
    :param video: an ``.mp4`` or ``.gif`` file to record every episode into; ``None`` for none.
    :param randomization: domain randomization drawn every episode (:mod:`sim.randomization`).
    :param max_steps: policy steps per episode; the bundle's episode length when ``None``.
    :param on_episode: called with each episode's index and result as it finishes.
    :param record: a new rosbag2 folder to record every episode into
        (:class:`episodes.recording.EpisodeRecorder`; metadata: robot, its YAML and calibration,
        bundle, task, backend, seed, git revision); ``None`` for none.
    :raises BundleError: the bundle is broken or does not fit the robot.
    """
    from sim.backends import make_robot

    if episodes < 1:
        raise ValueError(f"episodes is {episodes}; run at least 1")
    spec = robot_spec(robot, bundle_path)
    bundle = load_bundle(bundle_path, spec)
    task = bundle.make_task(spec)
    from sim.randomization import as_randomization

    dynamics = as_randomization(randomization, spec)
    rng = np.random.default_rng(seed)
    low, high = task.action_space.low.astype(np.float64), task.action_space.high.astype(np.float64)
    metrics = EpisodeMetrics(low=low, high=high)
    results: list[EpisodeResult] = []
    sim: Any = None
    runner: PolicyRunner | None = None
    writer = _video_writer(video, bundle.policy_rate_hz)
    on_step = (lambda: writer.add(sim.render(480, 360))) if writer is not None else None
    recorder = _recorder(record, spec, bundle_path, bundle.task_name, backend, seed)
    try:
        for index in range(episodes):
            if task.resample_world(rng) or runner is None:  # a new maze, or the first episode
                if runner is not None:
                    runner.robot.close()
                sim = make_robot(spec, backend, world=task.world_layout())
                runner = PolicyRunner(bundle, sim, task)
            if dynamics is not None:
                sim.set_dynamics(dynamics.sample(rng))
            result = run_episode(runner, sim, rng, max_steps=max_steps, on_step=on_step, recorder=recorder)
            metrics.add_episode(result.actions, result.episode_return, result.final_info)
            results.append(result)
            if on_episode is not None:
                on_episode(index, result)
    finally:
        if runner is not None:
            runner.robot.close()
        if writer is not None:
            writer.close()
        if recorder is not None:
            recorder.close()
    return {
        "bundle": str(Path(bundle_path)),
        "robot": spec.name,
        "backend": backend,
        "seed": seed,
        "task": bundle.task_name,
        "algorithm": bundle.algorithm,
        "parity_max_error": bundle.parity_max_error,
        **metrics.summary(),
        "safety": {k: sum(getattr(r.safety, k) for r in results) for k in vars(SafetyCounts())},
        "episode_results": [r.summary() for r in results],
        "video": None if video is None else str(video),
        "record": None if record is None else str(record),
    }


def _objects(task: Any, world: Any) -> dict[str, Any]:
    return {name: world.object_pose(name) for name in task.observed_objects}


def robot_spec(robot: RobotSpec | str | Path | None, bundle_path: str | Path) -> RobotSpec:
    """``robot`` as a spec (a spec, a shipped robot's name or a robot YAML); when ``None``, the
    robot the bundle was trained on: the robot YAML it was read from at training if that is still
    there, else the shipped robot of that name.

    :raises BundleError: ``None`` and neither can be found (give the robot explicitly).
    :raises FileNotFoundError: no such robot.
    """
    from robots import robot_yaml

    if isinstance(robot, RobotSpec):
        return robot
    if robot is not None:
        return RobotSpec.from_yaml(robot_yaml(robot))
    contract = read_metadata(Path(bundle_path))["robot"]
    for candidate in (contract.get("source"), contract.get("name")):
        if candidate:
            try:
                return RobotSpec.from_yaml(robot_yaml(candidate))
            except FileNotFoundError:
                continue
    raise BundleError(
        f"bundle {bundle_path}: robot '{contract.get('name')}' is not shipped and {contract.get('source')} is gone; "
        "give the robot YAML explicitly"
    )


def _recorder(
    path: str | Path | None, spec: RobotSpec, bundle_path: str | Path, task: str, backend: str, seed: int
) -> EpisodeRecorder | None:
    if path is None:
        return None
    from episodes.recording import EpisodeRecorder, run_metadata

    metadata = run_metadata(spec, bundle=str(Path(bundle_path).resolve()), task=task, backend=backend, seed=str(seed))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return EpisodeRecorder(path, spec, metadata=metadata)


def _video_writer(path: str | Path | None, fps: float) -> Any:
    if path is None:
        return None
    from sim.video import VIDEO_SUFFIXES, VideoWriter

    file = Path(path)
    if file.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"video path {file} must end in one of {VIDEO_SUFFIXES}")
    file.parent.mkdir(parents=True, exist_ok=True)
    return VideoWriter(file, fps)
