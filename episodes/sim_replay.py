"""Open-loop replay of a logged episode in a simulator, and how far the simulation drifts from the log.

:func:`replay_in_sim` builds the robot in MuJoCo or PyBullet (:func:`sim.backends.make_robot`), puts
it in the logged initial state and feeds it the logged commands at their logged times, one control
period at a time:

- arms: from the first logged command (at or after the requested start), with the joint
  positions logged then (``reset(position=...)``), the ``command`` stream on a control-period
  grid in the commands' own phase, each tick taking the command logged nearest to it (within half
  a period: a ROS recording logs commands as they arrived, with jitter), each held until the next;
- bases: placed at the first logged odometry pose (its wheel odometry starts at zero there and is
  carried into the log's odometry frame for comparison), then the ``cmd_vel`` twists, each held
  until the next one but for at most :data:`CMD_VEL_TIMEOUT_S`, after which the base stops, as
  ``diff_drive_controller`` does on its ``cmd_vel_timeout`` (0.5 s by default) when teleop pauses.

Commands pass the safety layer (:class:`hardware.safety.SafeRobot`) when they never went through
ours: a bag we did not write (no ``robot`` in its custom data), or ``safety=True``. A command beyond
the robot's limits is then clipped and counted in :attr:`ReplayResult.clipped` (a TurtleBot teleop
log at 0.5 m/s on our 0.22 m/s burger is clipped, and the base falls behind the log: the honest
answer to "what would our robot have done"). A bag our recorder wrote logs the commands *after*
the safety layer, and the position limiter is not idempotent (it heads for each target no faster
than it can brake on it, so re-filtering a moving stream of its own outputs makes it lag, by
0.04 rad on a UR5e sine at 10 Hz): such a bag is replayed raw by default, within only the
simulator's actuator ranges (for a base, the wheel speeds its twist limits allow), which is also
what ``safety=False`` asks for on any bag.

Divergence: per-joint RMSE and max error over time for arms; position drift (m) and heading drift
(rad) of the simulated odometry against the logged one for bases, final and max.
:func:`plot_replay` draws logged against simulated trajectories into a PNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from episodes.episode import Episode
from episodes.errors import EpisodeError
from episodes.reading import read_episodes
from episodes.topics import TopicMapping
from hardware.command import Command
from hardware.safety import SafeRobot
from hardware.spec import RobotSpec

FloatArray = NDArray[np.float64]

#: How long a base keeps driving on its last ``cmd_vel`` before it stops, s (diff_drive_controller's default).
CMD_VEL_TIMEOUT_S = 0.5
# A command logged this little after a control tick still counts for it: recorded stamps are
# simulation time rounded to ns, and must not fall into the next period by a rounding error.
_TICK_TOLERANCE_NS = 1_000_000


@dataclass
class ReplayResult:
    """The outcome of :func:`replay_in_sim`.

    :param robot: the robot's name. :param backend: the simulator. :param kind: ``arm`` or ``base``.
    :param safety: the commands passed the safety layer (else raw, within the actuator ranges).
    :param safety_reason: why the safety layer was on or off.
    :param times_s: control ticks since the replay start, s, ``(N,)``.
    :param logged: the logged trajectory at each tick: joint positions ``(N, dof)`` (arms) or
        odometry pose ``(N, 3)`` x_m, y_m, yaw_rad (bases).
    :param simulated: the simulated one, same shape (bases: odometry in the log's odometry frame).
    :param steps: control periods simulated. :param commands: logged commands in the replayed slice.
    :param clipped: control periods in which the safety layer (or, raw, the actuator ranges)
        changed the command. :param held: periods the safety layer held (watchdog, e-stop).
    :param stopped: periods a base stood still because its last ``cmd_vel`` was older than
        :data:`CMD_VEL_TIMEOUT_S` (or none had come yet).
    :param metrics: the divergence numbers (see :meth:`summary`).
    """

    robot: str
    backend: str
    kind: str
    safety: bool
    safety_reason: str
    times_s: FloatArray
    logged: FloatArray
    simulated: FloatArray
    steps: int
    commands: int
    clipped: int
    held: int
    stopped: int
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> FloatArray:
        """Arms: joint error ``(N, dof)``, rad. Bases: position drift ``(N,)``, m, and heading drift
        ``(N,)``, rad, stacked as ``(N, 2)``."""
        if self.kind == "arm":
            return self.simulated - self.logged
        position = np.hypot(*(self.simulated[:, :2] - self.logged[:, :2]).T)
        heading = np.abs(_wrap(self.simulated[:, 2] - self.logged[:, 2]))
        return np.stack([position, heading], axis=1)

    def summary(self) -> dict[str, Any]:
        """Plain data for YAML: where, what was fed, what the safety layer did, the divergence."""
        return {
            "robot": self.robot,
            "backend": self.backend,
            "kind": self.kind,
            "safety_layer": self.safety,
            "safety_reason": self.safety_reason,
            "duration_s": float(self.times_s[-1]) if self.times_s.size else 0.0,
            "steps": self.steps,
            "logged_commands": self.commands,
            "clipped_steps": self.clipped,
            "held_steps": self.held,
            "stopped_steps": self.stopped,
            **self.metrics,
        }


def replay_in_sim(
    bag: Path | str,
    spec: RobotSpec,
    backend: str = "mujoco",
    mapping: TopicMapping | None = None,
    episode: int | None = None,
    *,
    safety: bool | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> ReplayResult:
    """Replay a logged episode's commands open loop in a simulator and measure the divergence.

    :param bag: a rosbag2 folder or ROS 1 ``.bag``.
    :param spec: the robot to simulate (the bag is read as this robot's streams).
    :param backend: ``"mujoco"`` or ``"pybullet"``.
    :param mapping: topic mapping for a bag we did not write; the recorder's topics if ``None``.
    :param episode: the episode index to replay; the first one if ``None``.
    :param safety: pass the commands through the safety layer, or replay them raw; ``None``: through
        it unless our recorder wrote the bag (its commands already passed it: module docstring).
    :param start_s: replay from this long after the episode's first joint state, s.
    :param duration_s: replay this long, s; to the episode's end if ``None``.
    :raises EpisodeError: the bag cannot be read, has no such episode, or lacks what a replay needs.
    """
    reason = "asked for" if safety is not None else ""
    if safety is None:
        robot = recorded_robot(bag)
        safety = robot is None
        reason = (
            "a bag we did not write: its commands never passed our safety layer"
            if safety
            else "our recorder logged the commands after the safety layer: replayed as sent"
        )
    chosen = select_episode(read_episodes(bag, spec, mapping), episode, Path(bag))
    if spec.kind == "base":
        if len(chosen.odometry) == 0:
            raise EpisodeError(f"{Path(bag).name}: no odometry to start the replay from and compare with; map 'odom'")
        reference = chosen.odometry
    else:
        reference = chosen.states
    if len(chosen.commands) == 0:
        stream = "cmd_vel" if spec.kind == "base" else "command"
        raise EpisodeError(f"{Path(bag).name}: episode {chosen.index} has no {stream} messages to replay; map it")
    period_ns = round(spec.control_period_s * 1e9)
    t0 = int(chosen.states.t_ns[0]) + round(start_s * 1e9)
    if spec.kind == "arm":
        # Start at the first logged command, and tick in the commands' own phase. Ours are logged
        # on the ticks; a ROS recording logs each as it arrived (a grid a few ms off would put
        # every command a period late), and may have subscribed to the command topic after the
        # joint states: before its first command the log does not say what moved the arm.
        upcoming = chosen.commands.t_ns[chosen.commands.t_ns >= t0]
        if upcoming.size:
            t0 = int(upcoming[0])
    t_end = int(reference.t_ns[-1])
    if duration_s is not None:
        t_end = min(t_end, t0 + round(duration_s * 1e9))
    steps = (t_end - t0) // period_ns
    if steps < 1 or t0 < int(reference.t_ns[0]) - period_ns:
        raise EpisodeError(
            f"{Path(bag).name}: nothing to replay from {start_s} s (episode {chosen.index} has "
            f"{chosen.duration_s:.2f} s of data); choose a start inside the episode"
        )
    ticks = t0 + period_ns * np.arange(steps + 1, dtype=np.int64)
    from sim.backends import make_robot

    sim = make_robot(spec, backend)
    try:
        if spec.kind == "base":
            result = _replay_base(sim, spec, chosen, ticks, safety)
        else:
            result = _replay_arm(sim, spec, chosen, ticks, safety)
    finally:
        sim.close()
    result.backend = backend
    result.safety_reason = reason
    commands = chosen.commands.t_ns
    result.commands = int(np.count_nonzero((commands >= ticks[0]) & (commands <= ticks[-1])))
    return result


def recorded_robot(bag: Path | str) -> str | None:
    """The ``robot`` in a rosbag2's custom data (our recorder writes it); ``None`` if there is none.

    :raises EpisodeError: the bag cannot be opened.
    """
    from episodes.reading import custom_data, open_bag

    with open_bag(bag) as reader:
        robot = custom_data(reader).get("robot")
    return None if robot is None else str(robot)


def select_episode(episodes: list[Episode], index: int | None, bag: Path) -> Episode:
    """The episode with recorder index ``index`` (the first one when ``None``).

    :raises EpisodeError: the bag has no episodes, or none with that index.
    """
    if not episodes:
        raise EpisodeError(f"{bag.name} has no episodes of mapped messages; check the topic mapping")
    if index is None:
        return episodes[0]
    for candidate in episodes:
        if candidate.index == index:
            return candidate
    raise EpisodeError(f"{bag.name} has no episode {index}; it has {[e.index for e in episodes]}")


class _Driver:
    """Writes commands through the safety layer (or raw) and counts what was changed."""

    def __init__(self, sim: Any, safety: bool) -> None:
        self.sim = sim
        self.robot: Any = SafeRobot(sim, clock_ns=sim.now_ns) if safety else sim
        self.clipped = self.held = 0

    def write(self, command: Command) -> None:
        sent = self.robot.write(command)
        if isinstance(self.robot, SafeRobot):
            self.clipped += self.robot.last_report.changed and not self.robot.last_report.held
            self.held += self.robot.last_report.held
        else:
            self.clipped += not np.allclose(sent.values, command.values)


def _replay_arm(sim: Any, spec: RobotSpec, episode: Episode, ticks: NDArray[np.int64], safety: bool) -> ReplayResult:
    logged = _interpolate(episode.states.t_ns, episode.positions, ticks)
    tolerance_ns = round(spec.control_period_s * 1e9) // 2
    driver = _Driver(sim, safety)
    driver.robot.reset(position=logged[0])
    commands = episode.commands
    simulated = np.empty_like(logged)
    for k, t in enumerate(ticks):
        simulated[k] = driver.robot.read().position
        if k == len(ticks) - 1:
            break
        # The command nearest this tick (arrival jitter on a ROS recording; exact on ours).
        i = int(np.searchsorted(commands.t_ns, t + tolerance_ns, side="right")) - 1
        values = commands.values[i] if i >= 0 else logged[0]  # before the first command: hold the start
        driver.write(Command(spec.command_interface, values) if i >= 0 else Command.position(values))
    result = _result(spec, safety, ticks, logged, simulated, driver, stopped=0)
    error = result.error
    rmse = np.sqrt(np.mean(error**2, axis=0))
    peak = np.max(np.abs(error), axis=0)
    result.metrics = {
        "rmse_rad": float(np.sqrt(np.mean(error**2))),
        "max_error_rad": float(peak.max()),
        "per_joint": {
            name: {"rmse_rad": float(r), "max_error_rad": float(m)}
            for name, r, m in zip(spec.joint_names, rmse, peak, strict=True)
        },
    }
    return result


def _replay_base(sim: Any, spec: RobotSpec, episode: Episode, ticks: NDArray[np.int64], safety: bool) -> ReplayResult:
    odometry = episode.odometry
    xy = _interpolate(odometry.t_ns, odometry.values[:, :2], ticks)
    yaw = _wrap(_interpolate(odometry.t_ns, np.unwrap(odometry.values[:, 2])[:, None], ticks)[:, 0])
    logged = np.column_stack([xy, yaw])
    x0, y0, yaw0 = logged[0]
    driver = _Driver(sim, safety)
    driver.robot.reset()
    sim.set_base_pose(float(x0), float(y0), float(yaw0))
    commands = episode.commands
    timeout_ns = round(CMD_VEL_TIMEOUT_S * 1e9)
    cos0, sin0 = math.cos(yaw0), math.sin(yaw0)
    simulated = np.empty_like(logged)
    stopped = 0
    for k, t in enumerate(ticks):
        odo = driver.robot.read().odometry
        # Odometry starts at zero where the base was placed: carry it into the log's odometry frame.
        simulated[k] = [
            x0 + cos0 * odo.x_m - sin0 * odo.y_m,
            y0 + sin0 * odo.x_m + cos0 * odo.y_m,
            math.remainder(yaw0 + odo.yaw_rad, math.tau),
        ]
        if k == len(ticks) - 1:
            break
        i = int(np.searchsorted(commands.t_ns, t + _TICK_TOLERANCE_NS, side="right")) - 1
        if i < 0 or t - commands.t_ns[i] > timeout_ns:
            stopped += 1
            driver.write(Command("twist", np.zeros(spec.command_size)))
        else:
            driver.write(Command("twist", commands.values[i]))
    result = _result(spec, safety, ticks, logged, simulated, driver, stopped)
    error = result.error
    result.metrics = {
        "final_position_drift_m": float(error[-1, 0]),
        "max_position_drift_m": float(error[:, 0].max()),
        "final_heading_drift_rad": float(error[-1, 1]),
        "max_heading_drift_rad": float(error[:, 1].max()),
        "logged_path_m": _path_length(logged),
        "simulated_path_m": _path_length(simulated),
    }
    return result


def _result(
    spec: RobotSpec,
    safety: bool,
    ticks: NDArray[np.int64],
    logged: FloatArray,
    simulated: FloatArray,
    driver: _Driver,
    stopped: int,
) -> ReplayResult:
    return ReplayResult(
        robot=spec.name,
        backend="",
        kind=spec.kind,
        safety=safety,
        safety_reason="",
        times_s=(ticks - ticks[0]) * 1e-9,
        logged=logged,
        simulated=simulated,
        steps=len(ticks) - 1,
        commands=0,
        clipped=int(driver.clipped),
        held=int(driver.held),
        stopped=stopped,
    )


def plot_replay(result: ReplayResult, path: Path | str, title: str = "") -> Path:
    """Draw logged against simulated trajectories into a PNG at ``path`` (its folder is created).

    Arms: each joint against time. Bases: the x-y path, and the position and heading drift against time.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = result.times_s
    label = f"{result.backend} ({'safety layer' if result.safety else 'raw'})"
    if result.kind == "arm":
        dof = result.logged.shape[1]
        fig, axes = plt.subplots(dof, 1, figsize=(8, 1.8 * dof), sharex=True, squeeze=False)
        for j, ax in enumerate(axes[:, 0]):
            ax.plot(t, result.logged[:, j], label="logged", color="black")
            ax.plot(t, result.simulated[:, j], label=label, color="tab:orange", linestyle="--")
            ax.set_ylabel(f"joint {j}, rad")
        axes[0, 0].legend(loc="upper right")
        axes[-1, 0].set_xlabel("time, s")
    else:
        fig, (path_ax, drift_ax) = plt.subplots(1, 2, figsize=(12, 5))
        path_ax.plot(result.logged[:, 0], result.logged[:, 1], label="logged odometry", color="black")
        path_ax.plot(result.simulated[:, 0], result.simulated[:, 1], label=label, color="tab:orange")
        path_ax.plot(*result.logged[0, :2], "o", color="tab:green", label="start")
        path_ax.set_xlabel("x, m")
        path_ax.set_ylabel("y, m")
        path_ax.set_aspect("equal", adjustable="datalim")
        path_ax.legend()
        error = result.error
        drift_ax.plot(t, error[:, 0], color="tab:blue", label="position drift, m")
        drift_ax.set_xlabel("time, s")
        drift_ax.set_ylabel("position drift, m")
        heading_ax = drift_ax.twinx()
        heading_ax.plot(t, error[:, 1], color="tab:red", label="heading drift, rad")
        heading_ax.set_ylabel("heading drift, rad")
        drift_ax.legend(loc="upper left")
        heading_ax.legend(loc="upper right")
    fig.suptitle(title or f"{result.robot}: logged vs simulated ({label})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _interpolate(t_ns: NDArray[np.int64], values: FloatArray, ticks: NDArray[np.int64]) -> FloatArray:
    """``values`` (one row per ``t_ns``) linearly interpolated at ``ticks``, held beyond the ends."""
    t = (t_ns - ticks[0]).astype(np.float64)
    at = (ticks - ticks[0]).astype(np.float64)
    return np.column_stack([np.interp(at, t, values[:, j]) for j in range(values.shape[1])])


def _wrap(angle: FloatArray) -> FloatArray:
    """Angles into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def _path_length(pose: FloatArray) -> float:
    return float(np.sum(np.hypot(*np.diff(pose[:, :2], axis=0).T)))
