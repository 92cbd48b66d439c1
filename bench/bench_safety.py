"""Cost of the safety layer per command, against the least any control loop does.

Baseline (same process, same commands): ``np.clip`` of the command to the position limits plus
an ``isfinite`` check. Prints both times, their ratio, and the share of a 1 kHz control period
the full layer takes. Run: ``make bench`` or ``.venv/bin/python bench/bench_safety.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hardware import Command, RobotSpec, RobotState  # noqa: E402
from hardware.safety import SafetyLayer  # noqa: E402
from robots import robot_yaml  # noqa: E402

N = 20_000
REPEATS = 5


def best_per_call_us(function: object, commands: list[Command]) -> float:
    """Best of REPEATS runs over all commands, µs per call (the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for command in commands:
            function(command)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(commands) * 1e6


def main() -> None:
    spec = RobotSpec.from_yaml(robot_yaml("ur5e"))
    rng = np.random.default_rng(0)
    commands = [Command.position(q) for q in rng.uniform(spec.position_lower, spec.position_upper, (N, spec.dof))]
    state = RobotState(stamp_ns=0, position=np.zeros(spec.dof))
    layer = SafetyLayer(spec)
    lower, upper = spec.position_lower, spec.position_upper

    def baseline(command: Command) -> np.ndarray:
        values = command.values
        if not np.all(np.isfinite(values)):
            return np.zeros_like(values)
        return np.clip(values, lower, upper)

    def full(command: Command) -> Command:
        return layer.filter(command, state, 0)[0]

    base_us = best_per_call_us(baseline, commands)
    full_us = best_per_call_us(full, commands)
    print(f"safety layer ({spec.name}, {spec.dof} joints, position): {full_us:.1f} us per command")
    print(f"baseline (isfinite + np.clip):               {base_us:.1f} us per command")
    print(f"ratio full / baseline: {full_us / base_us:.1f}x; share of a 1 kHz period: {full_us / 1000:.1%}")


if __name__ == "__main__":
    main()
