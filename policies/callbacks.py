"""SB3 callbacks of a training run: exploration metrics and complete checkpoints."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback

from policies.metrics import EpisodeMetrics

#: Episodes over which the logged exploration metrics are averaged.
LOG_WINDOW = 20


class ExplorationMetricsCallback(BaseCallback):
    """Logs the exploration metrics of the *executed* training actions: continuity cost per
    episode, success rate and the environment step of the first success (sparse tasks), and
    coverage (``BaseExplore``), as ``exploration/*`` in TensorBoard and the console log.

    The actions are the ones the environments received (SAC/TQC: ``actions``; PPO:
    ``clipped_actions``), in action-space units.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.metrics: EpisodeMetrics | None = None
        self._actions: list[list[np.ndarray]] = []

    def _init_callback(self) -> None:
        space = self.training_env.action_space
        assert isinstance(space, spaces.Box), "exploration metrics need continuous (Box) actions"
        self.metrics = EpisodeMetrics(
            low=np.asarray(space.low, dtype=np.float64), high=np.asarray(space.high, dtype=np.float64)
        )  # type: ignore[attr-defined]
        self._actions = [[] for _ in range(self.training_env.num_envs)]

    def _on_step(self) -> bool:
        assert self.metrics is not None
        actions: Any = self.locals.get("clipped_actions", self.locals.get("actions"))
        infos, dones = self.locals["infos"], self.locals["dones"]
        for env_index, info in enumerate(infos):
            self._actions[env_index].append(np.array(actions[env_index], dtype=np.float64))
            self.metrics.add_step(info)
            if dones[env_index]:
                episode = info.get("episode", {})
                self.metrics.add_episode(self._actions[env_index], float(episode.get("r", np.nan)), info)
                self._actions[env_index] = []
                self._log()
        return True

    def _log(self) -> None:
        assert self.metrics is not None
        self.logger.record("exploration/continuity_cost", float(np.mean(self.metrics.continuity_costs[-LOG_WINDOW:])))
        if self.metrics.successes:
            self.logger.record("exploration/success_rate", float(np.mean(self.metrics.successes[-LOG_WINDOW:])))
        if self.metrics.first_success_step is not None:
            self.logger.record("exploration/first_success_step", self.metrics.first_success_step)
        if self.metrics.coverages:
            self.logger.record("exploration/coverage", float(np.mean(self.metrics.coverages[-LOG_WINDOW:])))

    def summary(self) -> dict[str, Any]:
        """The training metrics over every finished episode, plus the last window's means."""
        assert self.metrics is not None
        result = self.metrics.summary()
        result["continuity_cost_last"] = float(np.mean(self.metrics.continuity_costs[-LOG_WINDOW:] or [np.nan]))
        if self.metrics.successes:
            result["success_rate_last"] = float(np.mean(self.metrics.successes[-LOG_WINDOW:]))
        if self.metrics.coverages:
            result["coverage_last"] = float(np.mean(self.metrics.coverages[-LOG_WINDOW:]))
        return result


class ProgressLineCallback(BaseCallback):
    """Prints one line every ``every`` environment steps (for logs and pipes, where a progress
    bar does not render): steps, speed, and the recent training success or coverage.

    :param every: environment steps between lines. :param total: the run's budget.
    :param metrics: the run's exploration callback (for success and coverage), or ``None``.
    """

    def __init__(self, every: int, total: int, metrics: ExplorationMetricsCallback | None = None) -> None:
        super().__init__()
        self.every, self.total, self.exploration = every, total, metrics
        self._next = every
        self._started = 0.0

    def _on_training_start(self) -> None:
        self._started = time.perf_counter()
        self._next = self.num_timesteps + self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            elapsed = time.perf_counter() - self._started
            line = f"  step {self.num_timesteps}/{self.total}, {elapsed:.0f} s"
            found = self.exploration.metrics if self.exploration is not None else None
            if found is not None and found.successes:
                line += f", training success {100 * np.mean(found.successes[-LOG_WINDOW:]):.0f}%"
            if found is not None and found.coverages:
                line += f", coverage {np.mean(found.coverages[-LOG_WINDOW:]):.3f}"
            print(line, flush=True)
        return True


class RunCheckpointCallback(CheckpointCallback):
    """SB3's checkpoints (model, VecNormalize statistics, replay buffer) plus the curiosity
    networks' state, so that a resumed run continues where it stopped.

    :param curiosity: the run's curiosity callback (``state_dict``/``load_state_dict``), or ``None``.
    """

    def __init__(self, *args: Any, curiosity: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.curiosity = curiosity

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0 and self.curiosity is not None:
            th.save(self.curiosity.state_dict(), curiosity_path(Path(self.save_path), self.num_timesteps))
        return super()._on_step()


def curiosity_path(checkpoints: Path, steps: int) -> Path:
    """The curiosity state saved with the checkpoint of ``steps``."""
    return checkpoints / f"curiosity_{steps}_steps.pt"


def vecnormalize_path(checkpoints: Path, steps: int) -> Path:
    """The VecNormalize statistics SB3's CheckpointCallback saves with the checkpoint of ``steps``."""
    return checkpoints / f"model_vecnormalize_{steps}_steps.pkl"


def replay_buffer_path(checkpoints: Path, steps: int) -> Path:
    """The replay buffer SB3's CheckpointCallback saves with the checkpoint of ``steps``."""
    return checkpoints / f"model_replay_buffer_{steps}_steps.pkl"


def latest_checkpoint(checkpoints: Path) -> tuple[int, Path] | None:
    """The newest ``model_<steps>_steps.zip`` in ``checkpoints`` as (steps, path), or ``None``."""
    found = []
    for path in checkpoints.glob("model_*_steps.zip"):
        match = re.fullmatch(r"model_(\d+)_steps\.zip", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return max(found) if found else None
