"""``sim2real eval BUNDLE_OR_RUN``: success rate, return, continuity cost and a video of a policy.

A training run folder is evaluated with its SB3 model and normalization statistics; a bundle
(a folder with ``bundle.yaml``) with onnxruntime, exactly as it deploys. Actions are
deterministic unless ``--explore`` (runs only), which draws fresh gSDE noise every episode.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from sim2real.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real eval`` and its arguments."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a training run or a bundle: success, return, continuity cost, video",
        description="Evaluate a training run folder (SB3 model) or an exported bundle (onnxruntime) on its "
        "environment; print success rate, mean return, continuity cost (and coverage), write eval.yaml and a video.",
    )
    parser.add_argument("policy", type=Path, help="a run folder (sim2real train) or a bundle folder (sim2real export)")
    parser.add_argument("--backend", choices=("mujoco", "pybullet"), help="simulator (default: the training one)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes (default 20)")
    parser.add_argument("--seed", type=int, default=100_000, help="seed of the first episode")
    parser.add_argument(
        "--explore", action="store_true", help="exploratory actions (runs only; fresh gSDE noise per episode)"
    )
    parser.add_argument("--video-episodes", type=int, default=2, help="episodes in the video (0: no video)")
    parser.add_argument("--out", type=Path, help="folder for eval.yaml and eval.mp4 (default: next to the policy)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate and report."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if args.episodes < 1:
        raise UsageError(f"--episodes is {args.episodes}; evaluate at least 1")
    path: Path = args.policy
    if (path / "bundle.yaml").is_file():
        if args.explore:
            raise UsageError("--explore needs a training run; a bundle is deterministic (evaluate the run folder)")
        env, policy, label = _bundle(path, args.backend)
        hook = None
    elif (path / "config.yaml").is_file() and (path / "model.zip").is_file():
        env, policy, hook, label = _run(path, args.backend, args.explore)
    else:
        raise UsageError(f"{path} is neither a run folder (config.yaml + model.zip) nor a bundle (bundle.yaml)")
    from policies.evaluate import evaluate_policy

    out = args.out or path / f"eval_{label}"
    video = out / "eval.mp4" if args.video_episodes > 0 else None
    mode = "exploratory" if args.explore else "deterministic"
    print(f"evaluating {path} ({label}, {mode}), {args.episodes} episodes")

    def progress(index: int, result: dict[str, Any]) -> None:
        extra = f", coverage {result['coverage']:.3f}" if "coverage" in result else ""
        print(f"  episode {index}: return {result['return']:.2f}, success {result['success']}{extra}", flush=True)

    try:
        summary = evaluate_policy(
            env, policy, episodes=args.episodes, seed=args.seed, on_episode_start=hook,
            video=video, video_episodes=args.video_episodes, progress=progress,
        )  # fmt: skip
    finally:
        env.close()
    summary.update(policy=str(path), mode=mode, backend=label)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.yaml").write_text(yaml.safe_dump(summary, sort_keys=False), encoding="utf-8")
    text = f"  mean return {summary['mean_return']:.2f}, continuity cost {summary['continuity_cost']:.4f}"
    if "success_rate" in summary:
        text += f", success {100 * summary['success_rate']:.0f}%"
    if "coverage" in summary:
        text += f", coverage {summary['coverage']:.3f}"
    print(text + f"\n  summary: {out / 'eval.yaml'}" + (f"\n  video: {video}" if video else ""))
    return 0


def _run(path: Path, backend: str | None, explore: bool) -> tuple[Any, Any, Any, str]:
    """The environment, policy and episode hook of a training run's SB3 model."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from policies.algorithms import load_model
    from policies.config import ConfigError, load_config
    from policies.environments import load_normalization, make_single_env
    from policies.evaluate import exploration_reset, model_policy
    from policies.run_folder import RunFolder

    run = RunFolder.at(path)
    try:
        config = load_config(run.config)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    extra: dict[str, Any] = {"render_mode": "rgb_array"}
    if backend is not None:
        extra["backend"] = backend
    env = make_single_env(config, **extra)
    model = load_model(config, run.model, inference_only=True)
    normalization = None
    if run.vecnormalize.is_file():
        normalization = load_normalization(
            run.vecnormalize, DummyVecEnv([lambda: make_single_env(config)]), training=False
        )
    label = backend or str(config.env.kwargs.get("backend", "mujoco"))
    hook = exploration_reset(model) if explore else None
    return env, model_policy(model, normalization, deterministic=not explore), hook, label


def _bundle(path: Path, backend: str | None) -> tuple[Any, Any, str]:
    """The environment and policy of an exported bundle, loaded against its own robot."""
    import gymnasium

    import sim.envs  # noqa: F401  (registers the environments)
    from policies.bundle import BundleError, load_bundle
    from policies.deploy import robot_spec

    try:
        bundle = load_bundle(path, robot_spec(None, path))
    except (BundleError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    label = backend or "mujoco"
    env = gymnasium.make(
        f"sim2real/{bundle.task_name}-v0",
        robot=bundle.spec,
        backend=label,
        render_mode="rgb_array",
        max_episode_steps=bundle.max_episode_steps,
        **bundle.task_kwargs,
    )
    return env, bundle.act, label
