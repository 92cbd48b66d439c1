"""``sim2real replay BAG``: replay a logged episode in a simulator, to ROS, to a policy, or into a dataset.

Modes (exactly one)::

    sim2real replay BAG --in-sim [--backend mujoco|pybullet] [--raw|--safety] [--start S] [--duration D]
    sim2real replay BAG --to-ros [--rate R] [--clock] [--loop] [--start S]
    sim2real replay BAG --policy BUNDLE
    sim2real replay BAG --export-dataset [--bundle BUNDLE]

common options: ``--robot ROBOT`` (the bag's recorded robot by default), ``--mapping YAML`` (topic
mapping for a bag we did not write), ``--episode N``, ``--out DIR`` (``runs/replay/<bag stem>/``).

``--in-sim`` prints the divergence summary and writes ``replay_<backend>.png`` and
``replay_<backend>.yaml`` into ``--out``; the commands pass the safety layer unless our recorder
wrote the bag (see :mod:`episodes.sim_replay`), or as ``--raw`` / ``--safety`` say. ``--policy``
writes ``offline_actions.png`` and ``offline.yaml``; ``--export-dataset`` writes ``dataset.npz``
(``--bundle`` splits dict observations into their keys). A bag, mapping or robot that does not
fit is one error line, exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from sim2real.episodes_cmd import reported
from sim2real.errors import Sim2RealError


class ReplayCommandError(Sim2RealError):
    """A replay that cannot run (bad bag, mapping, robot, or a mode not available yet)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real replay`` and its modes."""
    parser = subparsers.add_parser(
        "replay",
        help="replay a logged episode: in a simulator, to ROS, through a policy, or into a dataset",
        description="Replay a rosbag2 (MCAP, sqlite3) or ROS 1 bag of episodes.",
    )
    parser.add_argument("bag", type=Path, help="a rosbag2 folder or a ROS 1 .bag file")
    parser.add_argument("--robot", help="robot name or robot YAML; default: the robot recorded in the bag")
    parser.add_argument("--mapping", type=Path, help="topic-mapping YAML (stream: topic) for a bag we did not write")
    parser.add_argument("--episode", type=int, help="episode index to replay (default: the first)")
    parser.add_argument("--out", type=Path, help="output folder (default: runs/replay/<bag stem>/)")
    modes = parser.add_mutually_exclusive_group(required=True)
    modes.add_argument("--in-sim", action="store_true", help="open-loop replay of the logged commands in a simulator")
    modes.add_argument("--to-ros", action="store_true", help="republish the bag on ROS 2, like ros2 bag play")
    modes.add_argument("--policy", type=Path, metavar="BUNDLE", help="offline evaluation of a bundle on the log")
    modes.add_argument("--export-dataset", action="store_true", help="transitions as a compressed npz dataset")
    parser.add_argument("--backend", choices=("mujoco", "pybullet"), default="mujoco", help="simulator (--in-sim)")
    safety = parser.add_mutually_exclusive_group()
    safety.add_argument(
        "--raw", dest="safety", action="store_false", default=None, help="--in-sim without the safety layer"
    )
    safety.add_argument(
        "--safety", dest="safety", action="store_true", default=None, help="--in-sim through the safety layer"
    )
    parser.add_argument("--start", type=float, default=0.0, help="start this many seconds into the episode / bag")
    parser.add_argument("--duration", type=float, help="replay only this many seconds (--in-sim)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback rate (--to-ros)")
    parser.add_argument("--clock", action="store_true", help="publish /clock (--to-ros)")
    parser.add_argument("--loop", action="store_true", help="play the bag in a loop (--to-ros)")
    parser.add_argument(
        "--bundle", type=Path, help="the run's bundle: splits dict observations into their keys (--export-dataset)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen mode."""
    from episodes.topics import TopicMapping
    from policies.bundle import BundleError

    with reported(ReplayCommandError, BundleError):
        # Checked here for every mode, so a bad mapping is the same one line whatever the mode.
        mapping = TopicMapping.from_yaml(args.mapping) if args.mapping is not None else None
        if args.to_ros:
            status = _mode_to_ros(args)
        else:
            spec = _spec(args.robot, args.bag)
            out = args.out if args.out is not None else Path("runs") / "replay" / args.bag.stem
            if args.in_sim:
                status = _mode_in_sim(args, spec, mapping, out)
            elif args.policy is not None:
                status = _mode_policy(args, spec, out)
            else:
                status = _mode_export(args, spec, out)
    return status


def _mode_in_sim(args: argparse.Namespace, spec: Any, mapping: Any, out: Path) -> int:
    from episodes.sim_replay import plot_replay, replay_in_sim

    result = replay_in_sim(
        args.bag,
        spec,
        args.backend,
        mapping,
        args.episode,
        safety=args.safety,
        start_s=args.start,
        duration_s=args.duration,
    )
    out.mkdir(parents=True, exist_ok=True)
    title = f"{args.bag.name}: {spec.name} in {args.backend}"
    png = plot_replay(result, out / f"replay_{args.backend}.png", title=title)
    summary = {"bag": str(args.bag), **result.summary(), "plot": str(png)}
    summary_path = out / f"replay_{args.backend}.yaml"
    summary_path.write_text(yaml.safe_dump(summary, sort_keys=False))
    print(_format(summary))
    if result.clipped:
        limiter = "the safety layer" if result.safety else "the actuator limits"
        print(
            f"note: {limiter} changed {result.clipped} of {result.steps} commands (beyond the limits of "
            f"'{spec.name}'): the simulated robot does not do all that was logged"
        )
    print(f"wrote {png} and {summary_path}")
    return 0


# The other modes take the mapping YAML's path (they read it themselves).
def _mode_to_ros(args: argparse.Namespace) -> int:
    try:
        import rclpy  # noqa: F401  (the player node's only dependency beyond the episodes extra)
    except ImportError as err:
        raise ReplayCommandError(
            f"replay --to-ros needs ROS 2's rclpy ({err}); install it: pip install -e '.[ros]'"
        ) from err
    from episodes.player import play_bag

    return int(play_bag(args.bag, rate=args.rate, clock=args.clock, loop=args.loop, start_offset_s=args.start,
                        mapping=args.mapping))  # fmt: skip


def _mode_policy(args: argparse.Namespace, spec: Any, out: Path) -> int:
    from episodes.offline import evaluate_offline

    summary = evaluate_offline(args.bag, args.policy, spec, mapping=args.mapping, out=out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "offline.yaml"
    summary_path.write_text(yaml.safe_dump(summary, sort_keys=False))
    per_dimension = summary.pop("per_dimension")
    print(_format(summary))
    for d, metrics in enumerate(per_dimension):
        print(f"  a[{d}]: {_number(metrics)}")
    print(f"wrote {summary['plot']} and {summary_path}")
    return 0


def _mode_export(args: argparse.Namespace, spec: Any, out: Path) -> int:
    import numpy as np

    from episodes.dataset import export_dataset

    path = export_dataset(args.bag, spec, out / "dataset.npz", mapping=args.mapping, bundle=args.bundle)
    with np.load(path) as data:
        arrays = {key: data[key].shape for key in data.files}
        transitions, episodes = len(data["rewards"]), len(np.unique(data["episode"]))
        terminal = int(data["terminated"].sum())
    print(f"{transitions} transitions from {episodes} episodes ({terminal} terminal) -> {path}")
    print("  " + ", ".join(f"{key} {shape}" for key, shape in arrays.items()))
    return 0


def _spec(robot: str | None, bag: Path) -> Any:
    """The robot to replay as: ``robot`` (name or YAML), else the one recorded in the bag's custom data."""
    from hardware.spec import RobotSpec
    from robots import robot_yaml

    if robot is None:
        from episodes.sim_replay import recorded_robot

        robot = recorded_robot(bag)
        if robot is None:
            raise ReplayCommandError(f"{bag.name} does not say which robot it recorded; pass --robot NAME or YAML")
    try:
        return RobotSpec.from_yaml(robot_yaml(robot))
    except FileNotFoundError as err:
        raise ReplayCommandError(f"--robot: {err}") from err


def _format(summary: dict[str, Any]) -> str:
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {name}: {_number(v)}" for name, v in value.items())
        else:
            lines.append(f"{key}: {_number(value)}")
    return "\n".join(lines)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_number(v)}" for k, v in value.items())
    return str(value)
