"""The ``sim2real`` command line: one front door, one module per subcommand.

Adding a subcommand: write a module that exposes

- ``add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser``: calls
  ``subparsers.add_parser(NAME, help=...)`` and declares the subcommand's arguments;
- ``run(args: argparse.Namespace) -> int``: does the work and returns the exit status,

then register it in :data:`COMMANDS` below. Only the module of the subcommand being run is
imported (the others appear in ``--help`` through their registry help line), so ``sim2real
doctor`` does not pay for importing torch, and a robot computer without the ``sim`` or ``train``
extras can still run the subcommands it has.

Errors: a :class:`~sim2real.errors.Sim2RealError` or ``hardware.errors.HardwareError`` raised by
a subcommand is printed as one line, ``sim2real: error: <message>``, with exit status 2 (the
same status argparse uses for a bad command line). Any other exception is a bug: it propagates
with its traceback (exit status 1). Ctrl-C exits with 130, as a shell does; SIGTERM (what
``kill``, systemd and container runtimes send) is handled like Ctrl-C, so that the work is
unwound (a bag being recorded is closed complete, a robot is left holding) and the exit status
is 143.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from sim2real import __version__
from sim2real.errors import Sim2RealError

PROG = "sim2real"
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread to unwind the command like Ctrl-C does."""


class CommandModule(Protocol):
    """What a subcommand module provides (see the module docstring)."""

    def add_parser(
        self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Command:
    """A registered subcommand.

    :param module: dotted name of the module that implements it (imported only when it runs).
    :param help: the one-line summary ``sim2real --help`` shows without importing the module.
    """

    module: str
    help: str


# The registry: subcommand name -> implementing module. Keep it sorted by name.
COMMANDS: dict[str, Command] = {
    "demo": Command("sim2real.demo", "robots in both simulators and the safety layer at work, as pictures"),
    "doctor": Command("sim2real.doctor", "check that every dependency is installed and works"),
    "episodes": Command("sim2real.episodes_cmd", "inspect recorded episodes: topics, rates, duration, gaps, episodes"),
    "eval": Command(
        "sim2real.eval_cmd", "evaluate a training run or a bundle: success, return, continuity cost, video"
    ),
    "export": Command("sim2real.export_cmd", "export a training run to a deployable policy bundle (ONNX + contract)"),
    "launch": Command(
        "sim2real.launch_cmd", "run a ROS 2 YAML launch file where only the ROS 2 pip wheels exist (no ros2 launch)"
    ),
    "run": Command("sim2real.run_cmd", "run a policy bundle on a simulated robot through the deployment loop"),
    "replay": Command(
        "sim2real.replay_cmd", "replay a logged episode: in a simulator, to ROS, through a policy, or into a dataset"
    ),
    "robot": Command("sim2real.robot_cmd", "check a robot description (URDF + YAML) in both simulators"),
    "rollout": Command(
        "sim2real.rollout_cmd", "run a random or scripted policy in a simulated environment, with video"
    ),
    "train": Command("sim2real.train_cmd", "train a policy (SAC/TQC/PPO, gSDE, curiosity, HER) from a YAML config"),
}


def _selected_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line: the first argument that is not an option.

    Top-level options take no values, so the first non-option argument is the subcommand.
    """
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _load(name: str) -> CommandModule:
    """Import the module that implements subcommand ``name``."""
    return cast(CommandModule, importlib.import_module(COMMANDS[name].module))


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with the full arguments of ``selected`` only.

    :param selected: the subcommand about to run; its module is imported and declares its
        arguments. Every other subcommand gets a stub that only carries its help line.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train robot policies in simulation, run them on ROS 2 robots, replay "
        "logged episodes, and calibrate the simulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        if name == selected:
            _load(name).add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=command.help)
    return parser


def _is_reported_error(err: BaseException) -> bool:
    """Whether ``err`` is a project error to print as one line (not a bug to trace back)."""
    if isinstance(err, Sim2RealError):
        return True
    # A HardwareError can only have been raised if hardware.errors was imported, so look it up
    # instead of importing it: the command line then works even while hardware is broken.
    hardware_errors = sys.modules.get("hardware.errors")
    base = getattr(hardware_errors, "HardwareError", None)
    return isinstance(base, type) and isinstance(err, base)


def one_line(err: BaseException) -> str:
    """The error's message on one line (a multi-line message is joined with ``; ``)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return "; ".join(lines) or type(err).__name__


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    :param argv: the arguments after the program name; ``None`` reads ``sys.argv[1:]``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = _selected_command(argv)
    args = build_parser(selected).parse_args(argv)
    # Only where signals can be handled (the main thread), and never over a caller's own handler.
    previous = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _load(args.command).run(args)
    except Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if not _is_reported_error(err):
            raise
        print(f"{PROG}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)
