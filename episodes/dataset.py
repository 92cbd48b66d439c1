"""Logged episodes as an off-policy dataset: transitions in a compressed ``.npz``, and into an SB3 replay buffer.

Each episode's logged observations, actions and rewards (``/sim2real/observation``, ``action``,
``reward``; the i-th of each belong to step i) become transitions ``(obs[i], action[i],
reward[i], obs[i + 1])``. The last step of an episode has no next observation: it is kept,
marked ``terminated``, when the episode ended in ``success`` or ``failure`` (the task ended it:
no bootstrapping), and dropped otherwise (a timeout or an abort: the value after it is unknown).

The ``.npz`` holds, for ``N`` transitions: ``actions (N, a)``, ``rewards (N,)``, ``terminated (N,)``
(bool), ``episode (N,)`` (the recorder's episode index), and the observations as ``obs`` /
``next_obs`` ``(N, size)``, or, for a dict observation (with ``bundle`` given to know the
layout), one pair ``obs.<key>`` / ``next_obs.<key>`` per key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from episodes.errors import EpisodeError
from episodes.offline import split_observations
from episodes.reading import read_episodes
from episodes.topics import OBSERVATION_TOPIC, TopicMapping
from hardware.spec import RobotSpec

# Outcomes after which the episode's last step is terminal (the task ended it).
TERMINAL_OUTCOMES = frozenset({"success", "failure", "terminated"})


class DatasetError(EpisodeError):
    """The bag has no usable transitions, or the npz does not fit the replay buffer."""


def export_dataset(
    bag: Path | str,
    spec: RobotSpec,
    out: Path,
    *,
    mapping: Path | str | None = None,
    bundle: Path | str | None = None,
) -> Path:
    """Write the transitions of ``bag`` to ``out`` (a ``.npz``; ``.npz`` is added if missing).

    :param spec: the robot of the bag.
    :param mapping: a topic-mapping YAML for a bag we did not write.
    :param bundle: a bundle of the run's task: its observation space splits dict observations
        into their keys (and checks the logged size); ``None``: observations stay flat.
    :returns: the written file.
    :raises DatasetError: no episode has observations, actions and rewards logged.
    :raises EpisodeError: the bag cannot be read; :raises BundleError: the bundle does not fit.
    """
    space = None
    if bundle is not None:
        from policies.bundle import load_bundle

        space = load_bundle(bundle, spec).make_task(spec).observation_space
    topic_mapping = TopicMapping.from_yaml(mapping) if mapping is not None else None
    columns: dict[str, list[Any]] = {"obs": [], "next_obs": [], "actions": [], "rewards": [], "terminated": []}
    columns["episode"] = []
    for episode in read_episodes(bag, spec, topic_mapping):
        n = min(len(episode.observations), len(episode.actions), len(episode.rewards))
        if n == 0:
            continue
        obs = episode.observations.values
        terminal = episode.outcome in TERMINAL_OUTCOMES
        # The next observation of the last step is logged only if the run observed after it.
        steps = n if (len(obs) > n or terminal) else n - 1
        if steps <= 0:
            continue
        next_index = np.minimum(np.arange(steps) + 1, len(obs) - 1)
        done = np.zeros(steps, dtype=bool)
        done[-1] = terminal and steps == n
        columns["obs"].append(obs[:steps])
        columns["next_obs"].append(obs[next_index])
        columns["actions"].append(episode.actions.values[:steps].reshape(steps, -1))
        columns["rewards"].append(episode.rewards.values[:steps, 0])
        columns["terminated"].append(done)
        columns["episode"].append(np.full(steps, episode.index, dtype=np.int64))
    if not columns["obs"]:
        raise DatasetError(
            f"{Path(bag).name} has no episode with observations, actions and rewards logged ({OBSERVATION_TOPIC}...); "
            "record the run with sim2real run --record or recorder_node"
        )
    arrays = {key: np.concatenate(values) for key, values in columns.items()}
    for key in ("obs", "next_obs"):
        flat = arrays.pop(key)
        parts = split_observations(flat, space) if space is not None else flat
        if isinstance(parts, dict):
            arrays.update({f"{key}.{name}": value for name, value in parts.items()})
        else:
            arrays[key] = parts
    out = Path(out) if Path(out).suffix == ".npz" else Path(f"{out}.npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    return out


def load_transitions(npz: Path | str) -> dict[str, Any]:
    """The arrays of an exported dataset; dict observations as ``{"obs": {key: array}, ...}``."""
    with np.load(npz) as data:
        arrays = {key: data[key] for key in data.files}
    for key in ("obs", "next_obs"):
        names = sorted(k.split(".", 1)[1] for k in arrays if k.startswith(f"{key}."))
        if names:
            arrays[key] = {name: arrays.pop(f"{key}.{name}") for name in names}
    return arrays


def load_into_replay_buffer(npz: Path | str, buffer: Any) -> int:
    """Add an exported dataset's transitions to an SB3 ``ReplayBuffer`` or ``DictReplayBuffer``.

    Actions are stored as SB3's off-policy algorithms store them: rescaled from the buffer's
    ``Box`` action space to [-1, 1]. Returns the number of transitions added.

    :raises DatasetError: the observation or action shapes differ from the buffer's spaces.
    """
    data = load_transitions(npz)
    obs, next_obs, actions = data["obs"], data["next_obs"], data["actions"].astype(np.float32)
    count = len(actions)
    dict_buffer = isinstance(buffer.observation_space, spaces.Dict)
    if dict_buffer != isinstance(obs, dict):
        raise DatasetError(
            f"{Path(npz).name} has {'dict' if isinstance(obs, dict) else 'flat'} observations, the buffer "
            f"{type(buffer).__name__} takes {'dict' if dict_buffer else 'flat'} ones; export with (or without) bundle="
        )
    _check_shapes(npz, obs, buffer.observation_space)
    space = buffer.action_space
    if actions.shape[1:] != space.shape:
        raise DatasetError(f"{Path(npz).name}: actions {actions.shape[1:]}, the buffer's action space {space.shape}")
    if isinstance(space, spaces.Box) and np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)):
        actions = 2.0 * (actions - space.low) / (space.high - space.low) - 1.0
    for i in range(count):
        buffer.add(
            _row(obs, i),
            _row(next_obs, i),
            actions[i : i + 1],
            data["rewards"][i : i + 1],
            data["terminated"][i : i + 1],
            [{}],
        )
    return count


def _row(obs: Any, i: int) -> Any:
    if isinstance(obs, dict):
        return {key: value[i : i + 1] for key, value in obs.items()}
    return obs[i : i + 1]


def _check_shapes(npz: Path | str, obs: Any, space: spaces.Space[Any]) -> None:
    got: object
    wanted: object
    if isinstance(space, spaces.Dict):
        got = {key: value.shape[1:] for key, value in obs.items()}
        wanted = {key: sub.shape for key, sub in space.spaces.items()}
    else:
        got, wanted = obs.shape[1:], space.shape
    if got != wanted:
        raise DatasetError(f"{Path(npz).name}: observations {got}, the buffer's observation space {wanted}")
