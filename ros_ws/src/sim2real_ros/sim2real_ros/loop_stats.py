"""Timing of a control loop: achieved rate, jitter, and how old the state behind each command is.

Per tick the policy node records three steady-clock times: when the tick started, when the state
it used arrived, and when its command was published. From them:

- **period**: time between tick starts; **jitter**: period minus the nominal period;
- **tick latency**: state arrival to command published (how stale the state behind a command is:
  the wait for the timer plus the computation);
- **compute**: tick start to command published (observation, network, safety, publish).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray


class LoopStats:
    """Records ticks into preallocated arrays; the newest ``capacity`` are kept.

    :param nominal_period_s: the timer's period, s.
    :param capacity: ticks kept (a ring buffer beyond that).
    """

    def __init__(self, nominal_period_s: float, capacity: int = 200_000) -> None:
        self.nominal_period_s = nominal_period_s
        self._start = np.zeros(capacity, dtype=np.int64)
        self._arrival = np.zeros(capacity, dtype=np.int64)
        self._published = np.zeros(capacity, dtype=np.int64)
        self._held = np.zeros(capacity, dtype=bool)
        self.count = 0  # ticks recorded in total

    def record(self, start_ns: int, state_arrival_ns: int, published_ns: int, held: bool = False) -> None:
        """One tick's steady-clock times, ns, and whether its command was a hold (watchdog, e-stop)."""
        i = self.count % self._start.size
        self._start[i], self._arrival[i], self._published[i] = start_ns, state_arrival_ns, published_ns
        self._held[i] = held
        self.count += 1

    def arrays(self, last: int | None = None) -> dict[str, NDArray[Any]]:
        """The recorded times in order (the newest ``last`` ticks, all kept when ``None``)."""
        kept = min(self.count, self._start.size)
        n = kept if last is None else min(last, kept)
        index = (np.arange(self.count - n, self.count)) % self._start.size
        return {
            "start_ns": self._start[index],
            "arrival_ns": self._arrival[index],
            "published_ns": self._published[index],
            "held": self._held[index],
        }

    def summary(self, last: int | None = None) -> dict[str, float]:
        """Rate, jitter and latency percentiles over the newest ``last`` ticks (ms, Hz)."""
        data = self.arrays(last)
        start, arrival, published = data["start_ns"], data["arrival_ns"], data["published_ns"]
        if start.size < 2:
            return {}
        periods_s = np.diff(start) * 1e-9
        jitter_ms = (periods_s - self.nominal_period_s) * 1e3
        latency_ms = (published - arrival) * 1e-6
        compute_ms = (published - start) * 1e-6
        return {
            "rate_hz": float(1.0 / periods_s.mean()),
            "jitter_std_ms": float(jitter_ms.std()),
            "jitter_max_ms": float(np.abs(jitter_ms).max()),
            "tick_latency_p50_ms": float(np.percentile(latency_ms, 50)),
            "tick_latency_p99_ms": float(np.percentile(latency_ms, 99)),
            "compute_p50_ms": float(np.percentile(compute_ms, 50)),
            "compute_p99_ms": float(np.percentile(compute_ms, 99)),
            "held_fraction": float(data["held"].mean()),
        }

    def save(self, path: str | Path) -> Path:
        """Write every kept tick to an ``.npz`` (``start_ns``, ``arrival_ns``, ``published_ns``,
        ``held``, ``nominal_period_s``) for benchmarks and offline analysis."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, nominal_period_s=self.nominal_period_s, **self.arrays())
        return file
