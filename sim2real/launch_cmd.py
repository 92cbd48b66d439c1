"""``sim2real launch FILE [name:=value ...]``: run a ROS 2 YAML launch file without ``ros2 launch``.

For machines where ROS 2 comes from its pip wheels (no ``launch``/``launch_ros``, no ros2cli):
:mod:`sim2real_ros.launch_file` reads the file with ROS launch's semantics and
:mod:`sim2real_ros.launch_runner` runs the nodes. ``FILE`` is a path, or the name of a launch file
of the repository's ``launch/`` folder (``sim_arm`` is ``launch/sim_arm.launch.yaml``).

Ctrl-C (SIGINT) or SIGTERM shuts the nodes down as ros2 launch does (SIGINT, then SIGTERM, then
SIGKILL); the exit status is then 130 (143 after SIGTERM). Otherwise it is the launch's status
(:mod:`sim2real_ros.launch_runner`). A problem with the file is one line and status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

import sim2real
from sim2real.errors import UsageError

LAUNCH_SUFFIX = ".launch.yaml"


class LaunchCommandError(UsageError):
    """A launch file problem (a ``sim2real_ros`` ``LaunchError``), reported as one line."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real launch`` and its arguments."""
    parser = subparsers.add_parser(
        "launch",
        help="run a ROS 2 YAML launch file (the nodes as processes) where only the ROS 2 pip wheels exist",
        description="Run the nodes of a ROS 2 YAML launch file (*.launch.yaml) as ros2 launch would, "
        "for machines without ros2 launch. FILE is a path or the name of a file in the repository's "
        "launch/ folder.",
    )
    parser.add_argument("file", help="a launch file, or a name from launch/ (sim_arm: launch/sim_arm.launch.yaml)")
    parser.add_argument("arguments", nargs="*", metavar="name:=value", help="launch argument values")
    parser.add_argument(
        "--allow-eval", action="store_true", help="allow $(eval ...) and $(command ...), which run code from the file"
    )
    parser.add_argument("--print", action="store_true", help="print each node's command line; start nothing")
    parser.add_argument(
        "--show-args", action="store_true", help="list the launch arguments, defaults and descriptions; start nothing"
    )
    parser.add_argument(
        "--sigterm-timeout", type=float, default=5.0, help="seconds from SIGINT to SIGTERM on shutdown (default 5)"
    )
    parser.add_argument(
        "--sigkill-timeout", type=float, default=5.0, help="seconds from SIGTERM to SIGKILL on shutdown (default 5)"
    )
    parser.add_argument("--log-dir", type=Path, help="folder for the output of nodes with output: log")
    return parser


def launch_folders() -> list[Path]:
    """Where launch files are looked up by name: the repository's ``launch/`` folder, then where
    pip installs it (``<sys.prefix>/share/sim2real/launch``, ``.../share/sim2real_ros/launch``)."""
    candidates = [
        Path(sim2real.__file__).resolve().parents[1] / "launch",
        Path(sys.prefix) / "share" / "sim2real" / "launch",
        Path(sys.prefix) / "share" / "sim2real_ros" / "launch",
    ]
    return [folder for folder in dict.fromkeys(candidates) if folder.is_dir()]


def resolve_launch_file(name: str) -> Path:
    """The launch file ``name`` stands for (see :func:`launch_folders`).

    :raises UsageError: no such file; the message lists the launch files there are.
    """
    if Path(name).is_file():
        return Path(name)
    for folder in launch_folders():
        for candidate in (folder / name, folder / f"{name}{LAUNCH_SUFFIX}"):
            if candidate.is_file():
                return candidate
    found = [path for folder in launch_folders() for path in folder.glob(f"*{LAUNCH_SUFFIX}")]
    available = sorted({path.name.removesuffix(LAUNCH_SUFFIX) for path in found})
    listing = ", ".join(available) if available else "none"
    raise UsageError(f"launch file {name} not found; give a path, or one of the launch files in launch/: {listing}")


def parse_arguments(items: list[str]) -> dict[str, str]:
    """``name:=value`` items as a dict."""
    values: dict[str, str] = {}
    for item in items:
        name, separator, value = item.partition(":=")
        if not separator or not name:
            raise UsageError(f"launch argument {item!r} is not name:=value")
        values[name] = value
    return values


def run(args: argparse.Namespace) -> int:
    """Load the launch file, then print it (``--print``, ``--show-args``) or run it."""
    from sim2real_ros.launch_file import LaunchError, declared_arguments, load_launch
    from sim2real_ros.launch_runner import LaunchRunner

    path = resolve_launch_file(args.file)
    try:
        if args.show_args:
            for argument in declared_arguments(path):
                default = "required" if argument.default is None else f"default {argument.default!r}"
                about = f": {argument.description}" if argument.description else ""
                print(f"{argument.name} ({default}){about}")
            if not args.print:
                return 0
        description = load_launch(path, parse_arguments(args.arguments), allow_unsafe=args.allow_eval)
    except LaunchError as err:
        raise LaunchCommandError(str(err)) from err
    if args.print:
        for node in description.nodes:
            print(f"{node.label}: {node.command_line()}")
        return 0

    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only record it: the main loop below acts on it (a handler must not take locks the
        # interrupted code may hold).
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    runner = LaunchRunner(
        description,
        log_dir=args.log_dir,
        sigterm_timeout_s=args.sigterm_timeout,
        sigkill_timeout_s=args.sigkill_timeout,
    )
    try:
        try:
            runner.start()
        except LaunchError as err:
            raise LaunchCommandError(str(err)) from err
        status = None
        while status is None:
            if received:
                name = signal.Signals(received[0]).name
                runner.request_shutdown(f"{name} received", 128 + received[0])
            status = runner.wait(0.1)
        return 128 + received[0] if received else status
    finally:
        runner.shutdown("the launch command is exiting")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
