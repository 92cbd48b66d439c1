"""Exploration metrics: how smooth the executed actions are, how much of the world was seen, and
how soon a sparse task was first solved.

- :func:`continuity_cost`: the smoothness measure of the gSDE paper (Raffin et al. 2022),
  ``100 * mean(((a_t - a_{t-1}) / (high - low))^2)`` over consecutive actions of one episode.
- :class:`EpisodeMetrics`: accumulates the metrics over a run's episodes (training or evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def continuity_cost(actions: ArrayLike, low: ArrayLike, high: ArrayLike) -> float:
    """The gSDE paper's smoothness measure of one episode's actions.

    :param actions: the executed actions in time order, shape ``(steps, action_size)``.
    :param low: lower bounds of the action space. :param high: upper bounds.
    :returns: ``100 * mean(((a_t - a_{t-1}) / (high - low))^2)``; 0 for fewer than two actions.
        Uniform white noise over the whole range scores 100/6, about 16.7; a constant action 0.
    """
    values = np.asarray(actions, dtype=np.float64)
    if values.ndim != 2 or len(values) < 2:
        return 0.0
    span = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    steps = np.diff(values, axis=0) / span
    return float(100.0 * np.mean(steps**2))


@dataclass
class EpisodeMetrics:
    """The exploration metrics over many episodes.

    :param low: lower bounds of the action space. :param high: upper bounds.
    """

    low: NDArray[np.float64]
    high: NDArray[np.float64]
    continuity_costs: list[float] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    #: Environment steps (over all episodes so far) when ``is_success`` was first reported.
    first_success_step: int | None = None
    steps: int = 0

    def add_step(self, info: dict[str, Any]) -> None:
        """Count one environment step and note the first success."""
        self.steps += 1
        if self.first_success_step is None and info.get("is_success"):
            self.first_success_step = self.steps

    def add_episode(self, actions: ArrayLike, episode_return: float, final_info: dict[str, Any]) -> None:
        """Record one finished episode: its actions, return and last ``info``."""
        values = np.asarray(actions, dtype=np.float64)
        self.continuity_costs.append(continuity_cost(values, self.low, self.high))
        self.returns.append(float(episode_return))
        self.lengths.append(len(values))
        if "is_success" in final_info:
            self.successes.append(bool(final_info["is_success"]))
        if "coverage" in final_info:
            self.coverages.append(float(final_info["coverage"]))

    def summary(self) -> dict[str, Any]:
        """Means over the episodes so far (plain floats, ready for YAML)."""
        result: dict[str, Any] = {
            "episodes": len(self.returns),
            "mean_return": _mean(self.returns),
            "mean_episode_length": _mean(self.lengths),
            "continuity_cost": _mean(self.continuity_costs),
        }
        if self.successes:
            result["success_rate"] = _mean(self.successes)
            result["first_success_step"] = self.first_success_step
        if self.coverages:
            result["coverage"] = _mean(self.coverages)
            result["coverage_std"] = float(np.std(self.coverages))
        return result


def _mean(values: list[Any]) -> float:
    return float(np.mean(values)) if values else float("nan")


def yaml_ready(value: Any) -> Any:
    """``value`` with numpy scalars and tuples turned into plain Python (for ``yaml.safe_dump``)."""
    if isinstance(value, dict):
        return {str(k): yaml_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [yaml_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
