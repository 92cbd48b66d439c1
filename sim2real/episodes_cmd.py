"""``sim2real episodes``: look into recorded episodes (rosbag2 MCAP / sqlite3, ROS 1 ``.bag``).

``sim2real episodes info BAG [--mapping YAML] [--json]`` prints the bag's topics with type, count,
rate and gaps, its duration, run metadata and episodes. A bag that cannot be read, or a mapping
that does not fit it, is one error line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sim2real.errors import Sim2RealError


class EpisodesCommandError(Sim2RealError):
    """An ``episodes.errors.EpisodeError``, reported by the command line as one line."""


@contextmanager
def reported(error: type[Sim2RealError] = EpisodesCommandError, *also: type[Exception]) -> Iterator[None]:
    """Run an episodes command's work: an ``EpisodeError`` (or one of ``also``) becomes ``error``
    (one line, exit 2); warnings (what was skipped) are collected and printed to stderr after the
    work succeeds."""
    from episodes.errors import EpisodeError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except (EpisodeError, *also) as err:
        raise error(str(err)) from err
    for warning in caught:
        print(f"sim2real: warning: {warning.message}", file=sys.stderr)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real episodes`` and its actions."""
    parser = subparsers.add_parser(
        "episodes",
        help="inspect recorded episodes: topics, rates, duration, gaps, episodes",
        description="Inspect rosbag2 (MCAP, sqlite3) and ROS 1 bags of episodes.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="topics, rates, duration, gaps, run metadata and episodes of a bag")
    info.add_argument("bag", type=Path, help="a rosbag2 folder or a ROS 1 .bag file")
    info.add_argument("--mapping", type=Path, help="topic-mapping YAML (stream: topic) for a bag we did not write")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen action."""
    from episodes.info import bag_info, format_info
    from episodes.topics import TopicMapping

    with reported():
        mapping = TopicMapping.from_yaml(args.mapping) if args.mapping is not None else None
        info = bag_info(args.bag, mapping)
        print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
