"""Export a training run to a policy bundle (:mod:`policies.bundle`): ONNX network, contract, parity.

``export_bundle(RUN)`` loads the run's SB3 model (SAC, TQC or PPO) and ``VecNormalize``
statistics (our own files: loading them unpickles, which is why the bundle never needs to), and
writes ``RUN/bundle/``:

- ``policy.onnx``: a graph from the raw task observation to exactly what SB3's
  ``model.predict(vecnormalize.normalize_obs(obs), deterministic=True)`` returns. The observation
  normalization ``clip((obs - mean) / sqrt(var + eps), -clip_obs, clip_obs)`` is folded in (in
  float64, as VecNormalize computes it); then the policy's deterministic action (SAC/TQC: the
  actor's tanh-squashed mean; PPO: the distribution's mode); then SB3's post-processing
  (``unscale_action`` for squashed policies, else clipping to the action bounds).
- ``parity.npz``: observations from seeded rollouts of the run's environment (half policy
  actions, half random) plus a few drawn uniformly from the observation space (they reach the
  normalization's clip), with SB3's actions for them.
- ``bundle.yaml``: the contract and the training settings (:func:`policies.bundle.load_bundle`
  checks it); written last, so a folder without it is an unfinished export.

Export refuses to write a bundle whose network misses SB3's actions by more than ``atol``.
"""

from __future__ import annotations

import datetime
import inspect
import io
import warnings
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from policies.algorithms import ALGORITHM_CLASSES, load_model
from policies.bundle import (
    BOX_INPUT,
    DEFAULT_ATOL,
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    OUTPUT,
    PARITY_ACTIONS,
    PARITY_FILE,
    PARITY_INPUT_PREFIX,
    POLICY_FILE,
    BundleError,
    BundleParityError,
    inference_session,
    robot_contract,
    space_layout,
)
from policies.config import TrainConfig, load_config
from policies.environments import load_normalization, make_single_env
from policies.evaluate import model_policy
from policies.run_folder import RunFolder

#: ONNX operator set of the exported graph (onnxruntime 1.17+ runs it).
OPSET = 17
#: Packages whose versions a bundle records.
VERSIONED_PACKAGES = (
    "sim2real stable-baselines3 sb3-contrib torch onnx onnxruntime gymnasium mujoco pybullet numpy".split()
)
#: Seed of the parity rollouts (the bundle is the same file for the same run).
PARITY_SEED = 12345
#: Steps per parity rollout episode before the next reset (several starts, not one long episode).
PARITY_EPISODE_STEPS = 16


def export_bundle(
    run_dir: str | Path, out_dir: str | Path | None = None, parity_count: int = 64, *, atol: float = DEFAULT_ATOL
) -> Path:
    """Export the training run in ``run_dir`` to a bundle folder and return that folder.

    :param run_dir: a run folder (:class:`policies.run_folder.RunFolder`): ``config.yaml``,
        ``model.zip`` and, when the config normalizes observations, ``vecnormalize.pkl``.
    :param out_dir: where to write the bundle; ``RUN/bundle`` when ``None``. Files of an earlier
        export there are replaced.
    :param parity_count: observations in the parity check (>= 1).
    :param atol: largest allowed difference between ONNX and SB3 actions, action units.
    :raises BundleError: not a run folder, a file missing, or an unsupported model.
    :raises BundleParityError: the exported network disagrees with SB3 (a bug: report it).
    """
    run = RunFolder.at(run_dir)
    if not run.is_run():
        missing = [p.name for p in (run.config, run.model) if not p.is_file()]
        raise BundleError(
            f"{run.root} is not a training run ({', '.join(missing)} missing); give a `sim2real train` run folder"
        )
    if parity_count < 1:
        raise BundleError(f"parity_count is {parity_count}; check at least 1 observation")
    out = Path(out_dir) if out_dir is not None else run.bundle
    config = load_config(run.config)
    env = make_single_env(config)
    try:
        model = _load_model(config, run, env)
        normalizer = _load_normalization(config, run, env)
        observations = parity_observations(env, model, normalizer, parity_count)
        expected = _sb3_actions(model, normalizer, observations)
        names = _input_names(model.observation_space)
        inputs = observations if isinstance(observations, dict) else {BOX_INPUT: observations}
        onnx_bytes = _onnx_graph(model, normalizer, names)
        out.mkdir(parents=True, exist_ok=True)
        (out / METADATA_FILE).unlink(missing_ok=True)  # an interrupted export leaves no valid bundle
        (out / POLICY_FILE).write_bytes(onnx_bytes)
        error = _check_parity(out / POLICY_FILE, inputs, expected, atol)
        arrays = {PARITY_INPUT_PREFIX + k: v for k, v in inputs.items()}
        np.savez(out / PARITY_FILE, **{PARITY_ACTIONS: expected, **arrays})
        task: Any = env.unwrapped.task  # type: ignore[attr-defined]
        info = _metadata(config, run, model, normalizer, task)
        if env.spec is not None and env.spec.max_episode_steps:  # the time limit training ran under
            info["task"]["max_episode_steps"] = int(env.spec.max_episode_steps)
        info["parity"] = {
            "file": PARITY_FILE,
            "count": len(expected),
            "atol": float(atol),
            "max_error_at_export": error,
        }
        (out / METADATA_FILE).write_text(
            yaml.safe_dump(info, sort_keys=False, default_flow_style=None, width=120), encoding="utf-8"
        )
    finally:
        env.close()
    return out


# --- loading the run -------------------------------------------------------------------------------


def _load_model(config: TrainConfig, run: RunFolder, env: Any) -> Any:
    if config.algorithm not in ALGORITHM_CLASSES:
        raise BundleError(f"cannot export algorithm '{config.algorithm}'; bundles support {sorted(ALGORITHM_CLASSES)}")
    try:
        model = load_model(config, run.model, inference_only=True)  # the class training used
    except (ValueError, KeyError, RuntimeError, EOFError) as error:
        raise BundleError(
            f"{run.model}: cannot load a {config.algorithm} model ({error}); is config.yaml this run's?"
        ) from None
    if not isinstance(model.action_space, spaces.Box):
        raise BundleError(
            f"{run.model}: action space {model.action_space} is not a Box; bundles support continuous actions"
        )
    if model.observation_space != env.observation_space:
        raise BundleError(
            f"{run.model}: the model observes {model.observation_space}, the config's environment gives "
            f"{env.observation_space}; config.yaml does not belong to this model"
        )
    return model


def _load_normalization(config: TrainConfig, run: RunFolder, env: Any) -> Any:
    """The run's VecNormalize (only its statistics are used), or ``None`` without normalization."""
    if not config.env.normalize:
        return None
    if not run.vecnormalize.is_file():
        raise BundleError(f"{run.vecnormalize} not found, but the config normalizes observations; train to the end")
    normalizer = load_normalization(run.vecnormalize, DummyVecEnv([lambda: env]), training=False)
    assert isinstance(normalizer, VecNormalize)
    return normalizer if normalizer.norm_obs else None


def _input_names(space: spaces.Space[Any]) -> list[str]:
    if isinstance(space, spaces.Dict):
        return sorted(space.spaces)
    if isinstance(space, spaces.Box):
        return [BOX_INPUT]
    raise BundleError(f"observation space {space} is not a Box or a Dict of Boxes; bundles support those")


# --- parity --------------------------------------------------------------------------------------


def parity_observations(env: Any, model: Any, normalizer: Any, count: int, seed: int = PARITY_SEED) -> Any:
    """``count`` raw observations, batched in the env's format (a dict of arrays, or an array):
    seeded rollouts of ``env`` acting with the policy or at random (even / odd episodes), plus one
    in eight drawn from the observation space (they reach the normalization's clip)."""
    drawn = count // 8
    rows: list[Any] = []
    episode = 0
    while len(rows) < count - drawn:
        observation, _ = env.reset(seed=seed + episode)
        env.action_space.seed(seed + episode)
        for _ in range(PARITY_EPISODE_STEPS):
            rows.append(observation)
            if len(rows) == count - drawn:
                break
            policy_acts = episode % 2 == 0
            action = _sb3_actions(model, normalizer, _stack(rows[-1:]))[0] if policy_acts else env.action_space.sample()
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        episode += 1
    env.observation_space.seed(seed)
    return _stack(rows + [env.observation_space.sample() for _ in range(drawn)])


def _stack(rows: list[Any]) -> Any:
    if isinstance(rows[0], dict):
        return {k: np.stack([row[k] for row in rows]).astype(np.float32) for k in rows[0]}
    return np.stack(rows).astype(np.float32)


def _sb3_actions(model: Any, normalizer: Any, observations: Any) -> NDArray[np.float64]:
    """What SB3 does at evaluation: normalize, then ``predict(deterministic=True)``, batched."""
    return np.asarray(model_policy(model, normalizer, deterministic=True)(observations), dtype=np.float64)


def _check_parity(
    file: Path, observations: dict[str, NDArray[np.float32]], expected: NDArray[np.float64], atol: float
) -> float:
    actual = inference_session(file).run(None, observations)[0].astype(np.float64)
    error = float(np.max(np.abs(actual - expected)))
    if not error <= atol:
        raise BundleParityError(
            f"{file}: the exported network differs from SB3's actions by up to {error:.3g} (tolerance {atol:g}); "
            "this model is not exported faithfully: report it with the run's config.yaml"
        )
    return error


# --- the network -----------------------------------------------------------------------------------


class ExportedPolicy(torch.nn.Module):
    """Raw observation inputs -> deterministic action, as SB3's ``predict`` computes it.

    :param policy: the SB3 policy (``model.policy``).
    :param names: input names in order (sorted Dict keys, or ``observation``).
    :param normalizer: the run's ``VecNormalize`` (statistics only), or ``None``.
    """

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, policy: Any, names: list[str], normalizer: Any) -> None:
        super().__init__()
        self.policy = policy
        self.names = names
        self.dict_obs = isinstance(policy.observation_space, spaces.Dict)
        self.normalized: list[str] = []
        self.clip_obs = float(normalizer.clip_obs) if normalizer is not None else 0.0
        for name, (mean, var) in _statistics(normalizer, names).items():
            # float64 buffers: VecNormalize normalizes in float64 and casts the result to float32.
            std = np.sqrt(var + normalizer.epsilon)
            self.register_buffer(f"mean_{name}", torch.as_tensor(mean, dtype=torch.float64))
            self.register_buffer(f"std_{name}", torch.as_tensor(std, dtype=torch.float64))
            self.normalized.append(name)
        action_space = policy.action_space
        self.squash = bool(policy.squash_output)
        self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        values = {}
        for name, value in zip(self.names, inputs, strict=True):
            if name in self.normalized:
                mean, std = getattr(self, f"mean_{name}"), getattr(self, f"std_{name}")
                value = torch.clamp((value.double() - mean) / std, -self.clip_obs, self.clip_obs).float()
            values[name] = value
        observation = values if self.dict_obs else values[BOX_INPUT]
        action = self.policy._predict(observation, deterministic=True)  # what predict() calls
        if self.squash:  # predict(): unscale_action from [-1, 1]
            return self.low + 0.5 * (action + 1.0) * (self.high - self.low)
        return torch.maximum(torch.minimum(action, self.high), self.low)  # predict(): np.clip


def _statistics(normalizer: Any, names: list[str]) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Per normalized input: the running mean and variance."""
    if normalizer is None:
        return {}
    rms = normalizer.obs_rms
    if isinstance(rms, dict):
        keys = normalizer.norm_obs_keys or list(rms)
        return {k: (rms[k].mean, rms[k].var) for k in keys}
    return {names[0]: (rms.mean, rms.var)}


def _onnx_graph(model: Any, normalizer: Any, names: list[str]) -> bytes:
    policy = model.policy
    policy.set_training_mode(False)
    module = ExportedPolicy(policy, names, normalizer).eval()
    space = model.observation_space
    shapes: list[tuple[int, ...]] = [
        tuple(space[n].shape if isinstance(space, spaces.Dict) else space.shape)  # type: ignore[arg-type]
        for n in names
    ]
    example = tuple(torch.zeros((1, *shape), dtype=torch.float32) for shape in shapes)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript
        # (not installed); tracing warns about Python-side asserts in SB3's distributions.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            example,
            buffer,  # type: ignore[arg-type]  # torch takes a file object too; its stub says paths only
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes={**{n: {0: "batch"} for n in names}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


# --- bundle.yaml ---------------------------------------------------------------------------------


def _metadata(config: TrainConfig, run: RunFolder, model: Any, normalizer: Any, task: Any) -> dict[str, Any]:
    """bundle.yaml but its parity section."""
    space = model.observation_space
    names = _input_names(space)
    boxes = dict(space.spaces) if isinstance(space, spaces.Dict) else {BOX_INPUT: space}
    action: spaces.Box = model.action_space
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "policy": {
            "file": POLICY_FILE,
            "algorithm": config.algorithm,
            "opset": OPSET,
            "deterministic": True,
            "inputs": [{"name": n, "shape": list(boxes[n].shape or ()), "dtype": "float32"} for n in names],
            "outputs": [{"name": OUTPUT, "shape": list(action.shape), "dtype": "float32"}],
            "batch_axis": 0,
        },
        "robot": robot_contract(task.spec),
        "task": {
            "name": config.env.task,
            "kwargs": task_kwargs(config),
            "policy_rate_hz": float(task.policy_rate_hz),
            "control_steps_per_action": int(task.control_steps_per_action),
            "max_episode_steps": int(config.env.max_episode_steps or type(task).default_max_episode_steps),
        },
        "observation": {
            "type": "dict" if isinstance(space, spaces.Dict) else "box",
            "keys": {n: space_layout(boxes[n]) for n in names},
        },
        "action": space_layout(action),
        "normalization": _normalization(normalizer, names),
        "exploration": {
            "gsde": config.to_dict()["exploration"]["gsde"],
            "curiosity": config.to_dict()["exploration"]["curiosity"],
            "her": config.her,
        },
        "training": {
            "algorithm": config.algorithm,
            "policy": type(model.policy).__name__,
            "total_timesteps": config.total_timesteps,
            "trained_timesteps": int(model.num_timesteps),
            "seed": config.seed,
            "config": config.name,
            "run": str(run.root.resolve()),
            "env_kwargs": config.env.kwargs,  # read from YAML: plain data
            "hyperparams": config.hyperparams,
        },
        "versions": _versions(),
    }


#: ``gymnasium.make``'s own keyword arguments: not the task's.
MAKE_KWARGS = {"max_episode_steps", "disable_env_checker", "order_enforce", "autoreset", "apply_api_compatibility"}


def task_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The config's ``env.kwargs`` that configure the task: those of :class:`sim.envs.SimEnv`
    itself (backend, robot, randomization, rendering, mesh search path) are simulator-only, and
    ``gymnasium.make``'s (the time limit) are the environment's."""
    from sim.envs import SimEnv

    sim_only = set(inspect.signature(SimEnv.__init__).parameters) - {"self", "task", "task_kwargs"} | MAKE_KWARGS
    return {k: v for k, v in config.env.kwargs.items() if k not in sim_only}


def _normalization(normalizer: Any, names: list[str]) -> dict[str, Any] | None:
    """The folded-in statistics, for humans (the network already applies them)."""
    if normalizer is None:
        return None
    stats = _statistics(normalizer, names)
    return {
        "folded_into_network": True,
        "formula": "clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)",
        "clip_obs": float(normalizer.clip_obs),
        "epsilon": float(normalizer.epsilon),
        "keys": {
            k: {"mean": [float(v) for v in mean.reshape(-1)], "var": [float(v) for v in var.reshape(-1)]}
            for k, (mean, var) in stats.items()
        },
    }


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return versions
