"""The simulated ros2_control driver, without ROS: what ``sim_node`` runs each step.

A :class:`SimDriver` owns a simulated robot (``sim.MujocoRobot`` or ``sim.PybulletRobot``)
and decides, every step, the command a real driver's controller would apply:

- forward commands (``forward_command_controller``): jump to the target and keep it (no
  timeout, as the real controller has none);
- joint trajectories (``joint_trajectory_controller``): linear interpolation from the current
  reference to each point at its ``time_from_start``; after the last point, hold it; a new
  trajectory replaces the old one from the reference the old one had reached. Point velocities
  and accelerations are ignored (linear interpolation only);
- twists (``diff_drive_controller``): the last twist until it is older than
  ``cmd_vel_timeout_s``, then zero;
- command latency: each command takes effect ``latency + U(0, jitter)`` after it arrived, in
  arrival order (a reliable DDS link delays but does not reorder), see :class:`DelayQueue`.

Time is the driver's own clock: steps times the control period, from 0 at construction. It
never goes back (not even at :meth:`SimDriver.reset`), so a ROS clock published from it stays
monotonic. Each :meth:`SimDriver.step` writes one command, which advances the physics by one
period (``spec.control_period_s``).

The functions :func:`driver_spec` and :func:`task_world` turn the node's parameters into a spec
and a world, so they are checked here, without ROS.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState
from sim.world import WorldLayout

FloatArray = NDArray[np.float64]
T = TypeVar("T")

#: Automatic step rates (``rate_hz`` 0), Hz: faster than a policy's 10 Hz, as a real driver is
#: (a UR publishes joint states at 500 Hz).
AUTO_RATE_HZ = {"arm": 100.0, "base": 50.0}


class CommandRejected(ValueError):
    """A command that does not fit the robot (size, joint names, non-finite values, times)."""


def driver_spec(spec: RobotSpec, rate_hz: float) -> RobotSpec:
    """``spec`` stepped at ``rate_hz`` (0: :data:`AUTO_RATE_HZ`), so each ``write`` advances one
    driver period of physics.

    :raises ValueError: the rate is not positive, or its period is not a whole number of physics
        timesteps (``spec.sim.timestep_s``).
    """
    rate = float(rate_hz) or AUTO_RATE_HZ[spec.kind]
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate_hz must be > 0 (or 0 for automatic), got {rate_hz}")
    substeps = (1.0 / rate) / spec.sim.timestep_s
    if substeps < 1 - 1e-9 or abs(substeps - round(substeps)) > 1e-6:
        raise ValueError(
            f"rate_hz {rate:g}: its period {1e3 / rate:g} ms is not a multiple of the physics timestep "
            f"{spec.sim.timestep_s * 1e3:g} ms of '{spec.name}'; pick a rate that divides "
            f"{1 / spec.sim.timestep_s:g} Hz"
        )
    return dataclasses.replace(spec, control_rate_hz=rate)


def task_world(
    spec: RobotSpec, *, bundle: str | Path = "", task: str = "", task_kwargs: Mapping[str, Any] | None = None
) -> WorldLayout:
    """The world a policy bundle's task (or the task named ``task`` with ``task_kwargs``) builds
    around the robot; an empty world when neither is given.

    :param spec: the robot as its YAML describes it (the bundle checks its control rate), not
        the :func:`driver_spec` stepped at the driver's rate.

    :raises ValueError: both given, or an unknown task name or setting.
    :raises policies.bundle.BundleError: the bundle is unreadable or does not fit ``spec``.
    """
    if bundle and task:
        raise ValueError(f"give either bundle ({bundle}) or task ({task}), not both: a bundle names its own task")
    if bundle:
        from policies.bundle import load_bundle

        return load_bundle(bundle, spec).make_task(spec).world_layout()  # type: ignore[no-any-return]
    if task:
        from sim.tasks import make_task

        try:
            return make_task(task, spec, **dict(task_kwargs or {})).world_layout()
        except TypeError as error:  # an unknown keyword
            raise ValueError(f"task '{task}': bad task_kwargs {dict(task_kwargs or {})} ({error})") from None
    return WorldLayout()


class DelayQueue(Generic[T]):
    """Items released ``latency_s + U(0, jitter_s)`` after they were pushed, in push order.

    :param latency_s: fixed delay, s (>= 0).
    :param jitter_s: width of the uniform extra delay, s (>= 0).
    :param rng: draws the jitter.
    """

    def __init__(self, latency_s: float, jitter_s: float, rng: np.random.Generator) -> None:
        if not (latency_s >= 0 and jitter_s >= 0 and math.isfinite(latency_s + jitter_s)):
            raise ValueError(f"latency and jitter must be finite and >= 0 s, got {latency_s}, {jitter_s}")
        self.latency_s, self.jitter_s = float(latency_s), float(jitter_s)
        self._rng = rng
        self._items: collections.deque[tuple[float, T]] = collections.deque()
        self._last_due_s = -math.inf

    def push(self, item: T, now_s: float) -> float:
        """Queue ``item`` received at ``now_s``; returns when it is released, s."""
        due = now_s + self.latency_s + (self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0)
        # Never before an earlier item: the link delays, it does not reorder.
        self._last_due_s = due = max(due, self._last_due_s)
        self._items.append((due, item))
        return due

    def pop_due(self, now_s: float) -> list[T]:
        """The items due at ``now_s`` (released up to it), oldest first."""
        out = []
        while self._items and self._items[0][0] <= now_s + 1e-12:
            out.append(self._items.popleft()[1])
        return out

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Trajectory:
    """A piecewise-linear joint trajectory through ``(time_s, positions)`` knots.

    :param start_s: when it starts, driver time, s.
    :param start: the reference at the start, spec order, rad.
    :param points: ``(time_from_start_s, positions)``, times strictly increasing and >= 0.
    """

    def __init__(self, start_s: float, start: FloatArray, points: Sequence[tuple[float, FloatArray]]) -> None:
        self.times_s = np.array([start_s, *(start_s + t for t, _ in points)], dtype=np.float64)
        self.positions = np.vstack([start, *(q for _, q in points)])

    @property
    def end_s(self) -> float:
        return float(self.times_s[-1])

    def sample(self, t_s: float) -> FloatArray:
        """Positions at driver time ``t_s``: the start before it begins, the last point after it ends."""
        times = self.times_s
        if t_s <= times[0]:
            return self.positions[0].copy()
        if t_s >= times[-1]:
            return self.positions[-1].copy()
        i = int(np.searchsorted(times, t_s, side="right")) - 1
        fraction = (t_s - times[i]) / (times[i + 1] - times[i])
        return self.positions[i] + fraction * (self.positions[i + 1] - self.positions[i])


class SimDriver:
    """A simulated robot driven like a ros2_control driver drives the real one.

    :param robot: a simulated robot (``MujocoRobot`` / ``PybulletRobot``, the ``SimWorld``
        interface for bases) whose spec's control rate is the driver's step rate.
    :param cmd_vel_timeout_s: a twist older than this is replaced by zero, s (bases).
    :param command_latency_s: delay from a command's arrival to its effect, s.
    :param jitter_s: uniform extra delay on each command, s.
    :param seed: seeds the robot's resets (sensor noise) and the jitter.
    :param initial_position: arm joints at start and reset, spec order, rad; ``None``: home.
    :param initial_pose: base ``(x_m, y_m, yaw_rad)`` in the world at start and reset; ``None``:
        where the robot's reset puts it (the world origin, heading +x).
    """

    def __init__(
        self,
        robot: Any,
        *,
        cmd_vel_timeout_s: float = 0.5,
        command_latency_s: float = 0.0,
        jitter_s: float = 0.0,
        seed: int = 0,
        initial_position: ArrayLike | None = None,
        initial_pose: ArrayLike | None = None,
    ) -> None:
        self.robot = robot
        self.spec: RobotSpec = robot.spec
        spec = self.spec
        if not cmd_vel_timeout_s > 0:
            raise ValueError(f"cmd_vel_timeout_s must be > 0, got {cmd_vel_timeout_s}")
        self.cmd_vel_timeout_s = float(cmd_vel_timeout_s)
        self.seed = int(seed)
        self.period_ns = round(1e9 / spec.control_rate_hz)
        self._initial_position = None if initial_position is None else np.asarray(initial_position, dtype=np.float64)
        if self._initial_position is not None and spec.kind != "arm":
            raise ValueError(f"initial_position is for arms; '{spec.name}' is a base (use initial_pose)")
        if self._initial_position is not None and self._initial_position.shape != (spec.dof,):
            raise ValueError(
                f"initial_position has {self._initial_position.size} values, '{spec.name}' has {spec.dof} joints "
                f"{list(spec.joint_names)}"
            )
        self._initial_pose = None if initial_pose is None else np.asarray(initial_pose, dtype=np.float64)
        if self._initial_pose is not None and (spec.kind != "base" or self._initial_pose.shape != (3,)):
            raise ValueError(f"initial_pose is [x_m, y_m, yaw_rad] for bases; got {initial_pose!r} for '{spec.name}'")
        self._names = {name: i for i, name in enumerate(spec.joint_names)}
        self._queue: DelayQueue[tuple[str, Any]] = DelayQueue(
            command_latency_s, jitter_s, np.random.default_rng([self.seed, 1])
        )
        self._time_ns = 0
        self._trajectory: Trajectory | None = None
        #: The command written by the last step (before the robot's clipping); ``None`` before one.
        self.last_command: Command | None = None
        self.state = self.reset()

    # --- time --------------------------------------------------------------------------------

    @property
    def time_ns(self) -> int:
        """Driver time, ns: steps taken times the period (never goes back)."""
        return self._time_ns

    @property
    def time_s(self) -> float:
        return self._time_ns * 1e-9

    @property
    def period_s(self) -> float:
        return self.period_ns * 1e-9

    @property
    def reference(self) -> FloatArray:
        """The position target last written (arms with position commands), spec order, rad."""
        return self._reference.copy()

    # --- commands (they take effect after the latency) -----------------------------------------

    def command_forward(self, values: ArrayLike) -> None:
        """A forward controller's command: one value per joint in spec order (the spec's interface).

        :raises CommandRejected: wrong size, or non-finite values.
        """
        spec = self.spec
        if spec.kind != "arm":
            raise CommandRejected(f"'{spec.name}' is a base; it takes twists, not joint commands")
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.size != spec.dof:
            raise CommandRejected(
                f"command has {array.size} values, expected {spec.dof} (joints {', '.join(spec.joint_names)})"
            )
        if not np.all(np.isfinite(array)):
            raise CommandRejected(f"command has non-finite values {array.tolist()}")
        self._queue.push(("forward", array), self.time_s)

    def command_trajectory(
        self,
        joint_names: Sequence[str],
        points: Sequence[tuple[float, ArrayLike]],
        *,
        start_s: float | None = None,
    ) -> None:
        """A joint trajectory, as ``trajectory_msgs/JointTrajectory`` gives it.

        :param joint_names: the joints of the points' positions, in their order (any order, but
            every joint of the robot, each once).
        :param points: ``(time_from_start_s, positions)``; an empty list stops the current
            trajectory where its reference is.
        :param start_s: when the trajectory starts, driver time, s (a message's non-zero header
            stamp); ``None``: when it takes effect (a zero stamp).
        :raises CommandRejected: unknown, missing or repeated joints; a point of the wrong size or
            with non-finite values; times that are negative or do not increase.
        """
        spec = self.spec
        if spec.kind != "arm" or spec.command_interface != "position":
            raise CommandRejected(f"'{spec.name}' takes no joint trajectories (only arms with position commands do)")
        names = list(joint_names)
        unknown = [name for name in names if name not in self._names]
        missing = [name for name in spec.joint_names if name not in names]
        if unknown or missing or len(set(names)) != len(names):
            raise CommandRejected(
                f"trajectory joints {names} must be each of {list(spec.joint_names)} once"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else "")
            )
        order = np.array([names.index(name) for name in spec.joint_names])
        checked: list[tuple[float, FloatArray]] = []
        for k, (time_s, positions) in enumerate(points):
            q = np.asarray(positions, dtype=np.float64).reshape(-1)
            if q.size != len(names):
                raise CommandRejected(f"trajectory point {k} has {q.size} positions for {len(names)} joints")
            if not np.all(np.isfinite(q)):
                raise CommandRejected(f"trajectory point {k} has non-finite positions {q.tolist()}")
            previous = checked[-1][0] if checked else -math.inf
            if not (math.isfinite(time_s) and time_s >= 0 and time_s > previous):
                raise CommandRejected(
                    f"trajectory point {k}: time_from_start {time_s} s must be >= 0 and after the previous point's"
                )
            checked.append((float(time_s), q[order]))
        self._queue.push(("trajectory", (checked, start_s)), self.time_s)

    def command_twist(self, twist: ArrayLike) -> None:
        """A body twist ``[linear_x_mps, linear_y_mps, angular_z_radps]`` (``cmd_vel``).

        :raises CommandRejected: not three finite values, or the robot is not a base.
        """
        if self.spec.command_interface != "twist":
            raise CommandRejected(f"'{self.spec.name}' is an arm; it takes joint commands, not twists")
        array = np.asarray(twist, dtype=np.float64).reshape(-1)
        if array.shape != (3,) or not np.all(np.isfinite(array)):
            raise CommandRejected(f"twist must be 3 finite values (linear x, y, angular z), got {array.tolist()}")
        self._queue.push(("twist", array), self.time_s)

    # --- stepping ----------------------------------------------------------------------------

    def step(self) -> RobotState:
        """Take the commands that are due, write one command (one period of physics) and read.

        :returns: the robot's state at the end of the step (also :attr:`state`).
        """
        now_s = self.time_s
        for kind, payload in self._queue.pop_due(now_s):
            self._take(kind, payload, now_s)
        command = self.last_command = self._decide(now_s, now_s + self.period_s)
        self.robot.write(command)
        self._time_ns += self.period_ns
        self.state = self.robot.read()
        return self.state

    def reset(self) -> RobotState:
        """Back to the initial state (joints, base pose, world), with no command pending.
        Driver time goes on."""
        spec = self.spec
        state = self.robot.reset(seed=self.seed, position=self._initial_position)
        if self._initial_pose is not None:
            x, y, yaw = (float(v) for v in self._initial_pose)
            self.robot.set_base_pose(x, y, yaw)
            state = self.robot.read()
        self._queue.clear()
        self._trajectory = None
        # The true start position (not the noisy reading) is what the servo holds.
        start = spec.home_position if self._initial_position is None else self._initial_position
        self._reference = np.clip(start, spec.position_lower, spec.position_upper).astype(np.float64)
        self._forward = self._reference.copy() if spec.command_interface == "position" else np.zeros(spec.dof)
        self._twist = np.zeros(3)
        self._twist_time_s = -math.inf
        self.last_command = None
        self.state = state
        return state

    def close(self) -> None:
        self.robot.close()

    # --- internals ---------------------------------------------------------------------------

    def _take(self, kind: str, payload: Any, now_s: float) -> None:
        """A command arrives at the simulated controller at ``now_s``."""
        if kind == "forward":
            self._trajectory = None
            self._forward = payload
        elif kind == "trajectory":
            points, start_s = payload
            # The old trajectory (or the held target) has brought the reference to here.
            self._trajectory = Trajectory(now_s if start_s is None else start_s, self._reference, points)
        else:
            self._twist, self._twist_time_s = payload, now_s

    def _decide(self, now_s: float, end_s: float) -> Command:
        """The command for the step from ``now_s`` to ``end_s`` (the servo reaches a position
        target at the end of the step)."""
        spec = self.spec
        if spec.command_interface == "twist":
            fresh = now_s - self._twist_time_s <= self.cmd_vel_timeout_s + 1e-12
            return Command("twist", self._twist if fresh else np.zeros(3))
        if spec.command_interface != "position":
            return Command(spec.command_interface, self._forward)
        if self._trajectory is not None:
            target = self._trajectory.sample(end_s)
        else:
            target = self._forward
        self._reference = np.clip(target, spec.position_lower, spec.position_upper)
        return Command("position", self._reference)
