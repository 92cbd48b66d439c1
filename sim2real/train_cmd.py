"""``sim2real train CONFIG``: train a policy from a YAML config into a run folder.

CONFIG is a YAML file or the name of a shipped config (``policies/configs``, e.g.
``arm_reach_sac_gsde``). ``--set key=value`` overrides any config key by its dotted path
(``--set budget.total_timesteps=2000 --set exploration.gsde.log_std_init=-1``). ``--resume RUN``
continues a run from its newest checkpoint with the config saved in it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from sim2real.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real train`` and its arguments."""
    parser = subparsers.add_parser(
        "train",
        help="train a policy (SAC/TQC/PPO, gSDE, curiosity, HER) from a YAML config",
        description="Train a policy from a YAML config (or a shipped config's name) into a run folder: "
        "checkpoints, TensorBoard logs, evaluations, learning_curve.png, eval.mp4, model.zip.",
    )
    parser.add_argument("config", nargs="?", help="config YAML or shipped config name (omit with --resume)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/<config name>_seed<seed>)")
    parser.add_argument("--resume", type=Path, metavar="RUN", help="continue this run from its newest checkpoint")
    parser.add_argument("--timesteps", type=int, help="override budget.total_timesteps")
    parser.add_argument("--seed", type=int, help="override the seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (dotted path; YAML value)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="SB3's training log on the console")
    return parser


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The dotted-key overrides of the command line.

    :raises UsageError: a ``--set`` without ``=``.
    """
    result: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r} is not KEY=VALUE; write e.g. --set budget.total_timesteps=2000")
        result[key.strip()] = yaml.safe_load(value)
    if args.timesteps is not None:
        result["budget.total_timesteps"] = args.timesteps
    if args.seed is not None:
        result["seed"] = args.seed
    return result


def run(args: argparse.Namespace) -> int:
    """Train, then print where everything went and the final evaluation."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from policies.config import ConfigError, load_config
    from policies.run_folder import RunFolder
    from policies.train import ResumeError, train

    try:
        if args.resume is not None:
            run_dir = args.resume
            config = load_config(RunFolder.at(run_dir).config, overrides(args))
        else:
            if args.config is None:
                raise UsageError("give a CONFIG (YAML or shipped name) or --resume RUN")
            config = load_config(args.config, overrides(args))
            run_dir = args.out or Path("runs") / f"{config.name}_seed{config.seed}"
        print(
            f"training {config.name}: {config.algorithm} on {config.env_id}, "
            f"{config.total_timesteps} steps, seed {config.seed} -> {run_dir}"
        )
        result = train(
            config,
            run_dir,
            resume=args.resume is not None,
            progress_bar=not args.no_progress,
            # Without the bar (logs, pipes), a line every 5% of the budget.
            progress_lines=max(config.total_timesteps // 20, 1) if args.no_progress else 0,
            torch_threads=args.threads,
            verbose=1 if args.verbose else 0,
        )
    except (ConfigError, ResumeError) as error:
        raise UsageError(str(error)) from None
    print(summary_lines(result.metrics))
    return 0


def summary_lines(metrics: dict[str, Any]) -> str:
    """The end-of-training report: speed, exploration, final evaluation, where the files are."""
    training = metrics["training"]
    lines = [
        f"  {metrics['total_timesteps']} steps in {metrics['wall_time_s']} s ({metrics['steps_per_second']} steps/s)",
        f"  training: {training['episodes']} episodes, continuity cost {training['continuity_cost']:.4f}"
        + (f", first success at step {training['first_success_step']}" if training.get("first_success_step") else "")
        + (f", coverage {training['coverage']:.3f}" if "coverage" in training else ""),
    ]
    evaluation = metrics.get("evaluation")
    if evaluation:
        text = f"  evaluation: {evaluation['episodes']} episodes, mean return {evaluation['mean_return']:.2f}"
        if "success_rate" in evaluation:
            text += f", success {100 * evaluation['success_rate']:.0f}%"
        if "coverage" in evaluation:
            text += f", coverage {evaluation['coverage']:.3f}"
        lines.append(text + f", continuity cost {evaluation['continuity_cost']:.4f}")
    lines.append(f"  run folder: {metrics['run']} (learning_curve.png, eval.mp4, metrics.yaml, model.zip)")
    lines.append(f"  next: sim2real export {metrics['run']}")
    return "\n".join(lines)
