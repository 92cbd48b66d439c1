"""The safety layer driving a simulated arm under a hostile command stream.

A jerky "policy" (white-noise joint targets, the exploration that wears hardware) drives the
UR5e in MuJoCo through :class:`hardware.safety.SafetyLayer`, with faults injected on purpose:
a burst of NaN actions, a window where joint states stop arriving (the watchdog), and an e-stop
press and release. Everything the layer sends goes to the simulated position servos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hardware import Command, RobotSpec
from hardware.safety import SafetyLayer
from policies.metrics import continuity_cost
from sim.mujoco_robot import MujocoRobot
from sim.render import save_gif

NAN_S = (8.0, 10.0)  # the policy outputs NaN
STALE_S = (14.0, 18.0)  # joint states stop arriving
ESTOP_S = (21.0, 26.0)  # e-stop pressed, then released


def fault_steps(spec: RobotSpec, window_s: tuple[float, float]) -> tuple[int, int]:
    """A fault window in control steps of ``spec``."""
    return round(window_s[0] * spec.control_rate_hz), round(window_s[1] * spec.control_rate_hz)


@dataclass
class Rollout:
    """What happened at each control step (rows), per joint (columns)."""

    dt: float
    wanted: NDArray[np.float64]  # the policy's targets, rad (NaN where it sent NaN)
    sent: NDArray[np.float64]  # what the safety layer sent, rad
    measured: NDArray[np.float64]  # the simulated joint positions, rad
    held: NDArray[np.bool_]
    frames: list[NDArray[np.uint8]] = field(default_factory=list)


def run_rollout(spec: RobotSpec, *, duration_s: float = 30.0, seed: int = 0, frame_every: int = 0) -> Rollout:
    """Drive the arm for ``duration_s`` of simulated time; render every ``frame_every``-th step (0 = none)."""
    robot = MujocoRobot(spec)
    home = spec.home_position
    last_state = robot.reset()
    rng = np.random.default_rng(seed)
    layer = SafetyLayer(spec)
    nan_steps, stale_steps, estop_steps = (fault_steps(spec, w) for w in (NAN_S, STALE_S, ESTOP_S))

    wanted, sent, measured, held, frames = [], [], [], [], []
    for k in range(round(duration_s * spec.control_rate_hz)):
        if not stale_steps[0] <= k < stale_steps[1]:  # otherwise the state stops updating
            last_state = robot.read()
        if k == estop_steps[0]:
            layer.engage_estop("demo: operator pressed the e-stop")
        if k == estop_steps[1]:
            layer.reset_estop()
        target = home + rng.normal(scale=0.6, size=spec.dof)  # white-noise exploration
        if nan_steps[0] <= k < nan_steps[1]:
            target[rng.integers(spec.dof)] = np.nan
        command, report = layer.filter(command=Command.position(target), state=last_state, now_ns=robot.now_ns())
        robot.write(command)
        wanted.append(target)
        sent.append(command.values)
        measured.append(robot.read().position)
        held.append(report.held)
        if frame_every and k % frame_every == 0:
            frames.append(robot.render(320, 240))
    robot.close()
    return Rollout(spec.control_period_s, np.array(wanted), np.array(sent), np.array(measured), np.array(held), frames)


def summarize(spec: RobotSpec, rollout: Rollout) -> list[str]:
    """The numbers that say whether the layer did its job."""
    dt = rollout.dt
    velocity = np.diff(rollout.sent, axis=0) / dt
    acceleration = np.diff(velocity, axis=0) / dt
    # Holds (watchdog, e-stop) stop the target at once; judge acceleration outside those steps.
    moving = ~(rollout.held[2:] | rollout.held[1:-1])
    finite = np.isfinite(rollout.wanted).all(axis=1)
    low, high = spec.position_lower, spec.position_upper
    beyond = np.maximum(rollout.measured - high, low - rollout.measured).max()
    return [
        f"  {len(rollout.sent)} steps at {1 / dt:g} Hz; {int((~finite).sum())} NaN actions rejected, "
        f"{int(rollout.held.sum())} hold commands (watchdog + e-stop)",
        f"  sent speed   max {np.abs(velocity / spec.max_velocity).max():.2f} of the limit "
        f"(wanted: {np.nanmax(np.abs(np.diff(rollout.wanted, axis=0) / dt / spec.max_velocity)):.0f}x)",
        f"  sent accel   max {np.abs(acceleration[moving] / spec.max_acceleration).max():.2f} of the limit "
        "outside holds",
        f"  continuity cost: wanted {continuity_cost(rollout.wanted[finite], low, high):.3f}, "
        f"sent {continuity_cost(rollout.sent, low, high):.5f}",
        f"  joints beyond their limits in the simulator: {'never' if beyond <= 0 else f'{beyond:.3g} rad'}",
    ]


def plot(spec: RobotSpec, rollout: Rollout, path: Path) -> Path:
    """Wanted, sent and measured positions of three joints, faults shaded; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(rollout.sent)) * rollout.dt
    figure, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for axis, joint in zip(axes, (0, 1, 3), strict=True):
        axis.plot(t, rollout.wanted[:, joint], ".", color="0.75", markersize=2, label="policy wanted")
        axis.plot(t, rollout.sent[:, joint], color="tab:blue", label="safety layer sent")
        axis.plot(t, rollout.measured[:, joint], color="tab:orange", linestyle="--", label="simulated joint")
        for (start, stop), color, label in (
            (NAN_S, "tab:red", "NaN actions"),
            (STALE_S, "tab:purple", "stale state"),
            (ESTOP_S, "black", "e-stop"),
        ):
            axis.axvspan(start, stop, color=color, alpha=0.12, label=label)
        axis.set_ylabel(f"{spec.joint_names[joint]}\n(rad)")
        span = rollout.sent[:, joint]
        axis.set_ylim(span.min() - 1.0, span.max() + 1.0)
    axes[0].legend(loc="upper right", ncol=3, fontsize=8)
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(f"{spec.name}: white-noise targets through the safety layer")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def run_demo(spec: RobotSpec, out: Path) -> list[str]:
    """Run the rollout, write ``safety.png`` and ``safety.gif`` into ``out``, return the report."""
    frame_every = 1
    rollout = run_rollout(spec, frame_every=frame_every)
    lines = summarize(spec, rollout)
    lines.append(f"  plot: {plot(spec, rollout, out / 'safety.png')}")
    fps = 1.0 / (rollout.dt * frame_every)
    lines.append(f"  rollout: {save_gif(rollout.frames, out / 'safety.gif', fps=fps)}")
    return lines
