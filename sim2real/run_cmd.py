"""``sim2real run BUNDLE``: run a policy bundle on a simulated robot, as it would run on the real one.

The bundle is loaded against the robot (its contract and parity checked), then driven by
:class:`policies.deploy.PolicyRunner`: the loop the ROS 2 policy node runs, through the safety
layer. Prints each episode's return, success, continuity cost and safety-layer counts, and the
summary; writes ``run.yaml`` (and ``run.mp4`` with ``--video``) to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from sim2real.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real run`` and its arguments."""
    parser = subparsers.add_parser(
        "run",
        help="run a policy bundle on a simulated robot through the deployment loop",
        description="Load a policy bundle (checked against the robot) and run episodes in MuJoCo or "
        "PyBullet with the deployment loop; print success, return and continuity cost, and write "
        "run.yaml (and run.mp4 with --video) to --out.",
    )
    parser.add_argument("bundle", type=Path, help="the bundle folder (`sim2real export` wrote it)")
    parser.add_argument("--backend", choices=("mujoco", "pybullet"), default="mujoco")
    parser.add_argument("--episodes", type=int, default=3, help="episodes to run (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episodes' starts and goals")
    parser.add_argument("--max-steps", type=int, help="policy steps per episode (default: the bundle's episode length)")
    parser.add_argument("--robot", help="robot name or robot YAML (default: the robot the bundle was trained on)")
    parser.add_argument("--randomization", type=Path, help="domain randomization YAML (sim/randomization.py)")
    parser.add_argument("--video", action="store_true", help="record the episodes to OUT/run.mp4")
    parser.add_argument(
        "--record", type=Path, metavar="BAG", help="record every episode to this new rosbag2 (MCAP) folder"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/run"), help="folder for run.yaml and run.mp4")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the episodes, print the numbers, write the summary (and video)."""
    from episodes.errors import RecordingError
    from policies.bundle import BundleError
    from policies.deploy import EpisodeResult, run_bundle
    from sim.randomization import RandomizationConfigError

    if args.episodes < 1:
        raise UsageError(f"--episodes is {args.episodes}; run at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps is {args.max_steps}; run at least 1 step")
    if args.randomization is not None and not args.randomization.is_file():
        raise UsageError(f"--randomization {args.randomization} does not exist; give a randomization YAML")

    def report(index: int, result: EpisodeResult) -> None:
        if index == 0:  # printed once the bundle has loaded and checked out
            print(f"{args.bundle} on {args.backend}, {args.episodes} episodes")
        extra = f", coverage {result.final_info['coverage']:.2f}" if "coverage" in result.final_info else ""
        print(
            f"  episode {index}: return {result.episode_return:.1f}, success {result.success}, "
            f"{result.steps} steps, continuity cost {result.continuity_cost:.3f}, "
            f"{result.safety.clamped} of {result.safety.writes} commands changed by the safety layer{extra}"
        )

    video = args.out / "run.mp4" if args.video else None
    try:
        summary = run_bundle(
            args.bundle,
            args.backend,
            args.episodes,
            args.seed,
            robot=args.robot,
            video=video,
            randomization=args.randomization,
            max_steps=args.max_steps,
            on_episode=report,
            record=args.record,
        )
    except (BundleError, FileNotFoundError, RandomizationConfigError, RecordingError) as error:
        raise UsageError(str(error)) from error
    _print_summary(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run.yaml").write_text(yaml.safe_dump(summary, sort_keys=False), encoding="utf-8")
    if video is not None:
        print(f"  video: {video}")
    if args.record is not None:
        print(f"  recorded: {args.record}")
    print(f"  summary: {args.out / 'run.yaml'}")
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    success = f"success rate {summary['success_rate']:.2f}, " if "success_rate" in summary else ""
    coverage = f", coverage {summary['coverage']:.2f}" if "coverage" in summary else ""
    print(
        f"  {success}mean return {summary['mean_return']:.1f}, "
        f"continuity cost {summary['continuity_cost']:.3f}{coverage}, "
        f"{summary['safety']['clamped']} of {summary['safety']['writes']} commands changed by the safety layer"
    )
