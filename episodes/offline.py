"""Offline evaluation: a policy bundle's actions on a bag's logged observations, against the logged actions.

For each episode the bundle acts (``Bundle.act_batch``, onnxruntime) on the observations logged on
``/sim2real/observation`` and its actions are compared, step by step, with those on
``/sim2real/action``: per action dimension the mean absolute error, RMS error, largest error and
the correlation. Zero error means the bundle is the policy that drove the run (or one that acts
the same on those states); it says nothing about what the bundle would have done closed-loop.

Observations are logged flat. A dict observation (goal-conditioned tasks) is split in the order
the policy node and the recorder write it, :data:`DICT_KEY_ORDER` first, then the space's other
keys (:func:`split_observations`).

A bag without logged observations (a foreign bag) has them rebuilt with the bundle's task from
the logged joint states, odometry and scans (``task.observe``); goal-conditioned tasks are refused
(the goal is not in the log). Actions are never rebuilt: a bag without ``/sim2real/action`` cannot
be compared and is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from episodes.episode import Episode
from episodes.errors import EpisodeError
from episodes.reading import read_episodes
from episodes.topics import ACTION_TOPIC, OBSERVATION_TOPIC, TopicMapping
from hardware.spec import RobotSpec
from sim.tasks import flat_observation

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# How a dict observation is laid out flat: the task's own key order (sim.tasks.flat_observation,
# which the recorder and the policy node use); gymnasium's Dict space sorts its keys instead.
DICT_KEY_ORDER = ("observation", "achieved_goal", "desired_goal")


class OfflineEvaluationError(EpisodeError):
    """The bag cannot be evaluated offline: no logged actions, or observations that cannot be rebuilt."""


def dict_keys(space: spaces.Dict) -> list[str]:
    """The keys of a dict observation in their flat (logged) order."""
    keys = list(space.spaces)
    return [k for k in DICT_KEY_ORDER if k in keys] + [k for k in keys if k not in DICT_KEY_ORDER]


def split_observations(flat: FloatArray, space: spaces.Space[Any]) -> FloatArray | dict[str, FloatArray]:
    """Flat logged observations ``(N, size)`` as the task's observations: the array itself for a
    ``Box``, ``{key: (N, *shape)}`` for a ``Dict`` (see :func:`dict_keys`).

    :raises OfflineEvaluationError: the logged size is not the space's.
    """
    size = int(spaces.flatdim(space))
    if flat.ndim != 2 or flat.shape[1] != size:
        raise OfflineEvaluationError(
            f"logged observations have {flat.shape[-1] if flat.ndim else 0} values, the bundle's task takes {size}: "
            "evaluate with the bundle (and robot) that the run used, or one of the same observation layout"
        )
    if not isinstance(space, spaces.Dict):
        return flat
    parts: dict[str, FloatArray] = {}
    start = 0
    for key in dict_keys(space):
        shape = space.spaces[key].shape or ()
        width = math.prod(shape)
        parts[key] = flat[:, start : start + width].reshape(len(flat), *shape)
        start += width
    return parts


def rebuilt_observations(episode: Episode, task: Any, bag: str) -> FloatArray:
    """For an episode without logged observations: the task's observations ``(N, size)`` of the
    logged states at the logged actions' times, one per action.

    :raises OfflineEvaluationError: the task is goal-conditioned, or there are no joint states.
    """
    if isinstance(task.observation_space, spaces.Dict) or hasattr(task, "set_goal"):
        raise OfflineEvaluationError(
            f"{bag} has no logged observations ({OBSERVATION_TOPIC}) and the bundle's task {type(task).__name__} "
            "needs a goal that is not in the log; use a bag recorded with sim2real (observations logged)"
        )
    if not len(episode.states):
        raise OfflineEvaluationError(f"{bag} has neither observations nor joint states to rebuild them from")
    rows = []
    task.begin(episode.state_at(int(episode.actions.t_ns[0])))
    for t_ns in episode.actions.t_ns:
        rows.append(flat_observation(task.observe(episode.state_at(int(t_ns))))[0])
    return np.stack(rows)


def pair_by_time(observation_t_ns: IntArray, action_t_ns: IntArray) -> tuple[IntArray, IntArray]:
    """``(observation index, action index)`` of each action and the observation logged nearest to
    it, within half the actions' median interval (an action without one is left out).

    Our recorder logs a step's observation and action at the same time; ``recorder_node`` logs each
    as it arrives, in whichever order the two subscriptions were served, so nearest, not "latest
    before", is what pairs them. Logged observations with no action (recording started or stopped
    between the two) are left out too.
    """
    obs_t, act_t = np.asarray(observation_t_ns, np.int64), np.asarray(action_t_ns, np.int64)
    if obs_t.size == 0 or act_t.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tolerance = float(np.median(np.diff(act_t))) / 2 if act_t.size > 1 else math.inf
    after = np.clip(np.searchsorted(obs_t, act_t), 0, obs_t.size - 1)
    before = np.clip(after - 1, 0, obs_t.size - 1)
    nearest = np.where(np.abs(obs_t[before] - act_t) <= np.abs(obs_t[after] - act_t), before, after)
    keep = np.abs(obs_t[nearest] - act_t) <= tolerance
    return nearest[keep], np.flatnonzero(keep)


def error_metrics(logged: FloatArray, predicted: FloatArray) -> dict[str, Any]:
    """Per-dimension and overall MAE, RMSE, max absolute error and correlation (``None`` where a
    side is constant) of ``predicted`` against ``logged``, both ``(N, dims)``."""
    error = predicted - logged
    dims = []
    for d in range(logged.shape[1]):
        a, b = logged[:, d], predicted[:, d]
        corr = float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and a.std() > 0 and b.std() > 0 else None
        dims.append(
            {
                "mae": float(np.abs(error[:, d]).mean()),
                "rmse": float(np.sqrt((error[:, d] ** 2).mean())),
                "max": float(np.abs(error[:, d]).max()),
                "correlation": corr,
            }
        )
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "max": float(np.abs(error).max()),
        "per_dimension": dims,
    }


def evaluate_offline(
    bag: Path | str,
    bundle: Path | str,
    spec: RobotSpec,
    *,
    mapping: Path | str | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """The bundle's actions on ``bag``'s observations against its logged actions (module docstring).

    :param bag: a bag recorded with observations and actions (or a foreign one, see above).
    :param bundle: the policy bundle folder; loaded (and checked) for ``spec``.
    :param spec: the robot of the bag.
    :param mapping: a topic-mapping YAML for a bag we did not write.
    :param out: a ``.png`` file, or a folder to write ``offline_actions.png`` into; ``None``: no plot.
    :returns: ``{"bag", "bundle", "episodes", "steps", "mae", "rmse", "max", "per_dimension", "plot"}``.
    :raises EpisodeError: the bag cannot be read or evaluated; :raises BundleError: the bundle does not fit.
    """
    from policies.bundle import load_bundle

    loaded = load_bundle(bundle, spec)
    task = loaded.make_task(spec)
    topic_mapping = TopicMapping.from_yaml(mapping) if mapping is not None else None
    name = Path(bag).name
    logged_all, predicted_all, times_all = [], [], []
    episodes = read_episodes(bag, spec, topic_mapping)
    for episode in episodes:
        if not len(episode.actions):
            continue
        if len(episode.observations):
            observation_index, action_index = pair_by_time(episode.observations.t_ns, episode.actions.t_ns)
            flat = episode.observations.values[observation_index]
        else:  # rebuilt at the actions' times: one per action
            flat = rebuilt_observations(episode, task, name)
            action_index = np.arange(len(flat))
        steps = len(action_index)
        if steps == 0:
            continue
        predicted = loaded.act_batch(split_observations(flat, task.observation_space)).reshape(steps, -1)
        logged = episode.actions.values[action_index].reshape(steps, -1)
        if logged.shape[1] != predicted.shape[1]:
            raise OfflineEvaluationError(
                f"{name} logs {logged.shape[1]} action values, the bundle gives {predicted.shape[1]}; "
                "evaluate with a bundle of the run's task"
            )
        logged_all.append(logged)
        predicted_all.append(predicted)
        times_all.append((episode.actions.t_ns[action_index] - episodes[0].start_ns) * 1e-9)
    if not logged_all:
        raise OfflineEvaluationError(
            f"{name} has no logged actions ({ACTION_TOPIC}) to compare with; record the run with sim2real "
            "(sim2real run --record, or recorder_node with the policy node's action topic)"
        )
    logged, predicted, times = np.concatenate(logged_all), np.concatenate(predicted_all), np.concatenate(times_all)
    result: dict[str, Any] = {
        "bag": str(bag),
        "bundle": str(bundle),
        "episodes": len(logged_all),
        "steps": int(len(logged)),
        **error_metrics(logged, predicted),
        "plot": None,
    }
    if out is not None:
        path = Path(out) if Path(out).suffix == ".png" else Path(out) / "offline_actions.png"
        result["plot"] = str(plot_actions(times, logged, predicted, path, title=f"{name}: {Path(bundle).name}"))
    return result


def plot_actions(times_s: FloatArray, logged: FloatArray, predicted: FloatArray, path: Path, title: str) -> Path:
    """A PNG with one panel per action dimension: logged and bundle actions over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = logged.shape[1]
    figure, axes = plt.subplots(dims, 1, figsize=(8, 1.6 * dims + 1), sharex=True, squeeze=False)
    for d, axis in enumerate(axes[:, 0]):
        axis.plot(times_s, logged[:, d], ".-", label="logged", linewidth=1, markersize=2)
        axis.plot(times_s, predicted[:, d], ".-", label="bundle", linewidth=1, markersize=2)
        axis.set_ylabel(f"a[{d}]")
    axes[0, 0].legend(loc="upper right")
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("time in bag, s")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
