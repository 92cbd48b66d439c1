"""The `sim2real` command line: subcommand registry, one-line errors, exit statuses."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from sim2real import __version__, cli
from sim2real.cli import Command
from sim2real.errors import Sim2RealError, UsageError


def register(monkeypatch: pytest.MonkeyPatch, name: str, run: Callable[[argparse.Namespace], int]) -> None:
    """Register a throwaway subcommand ``name`` whose ``run`` is ``run``."""
    module = types.ModuleType(f"_sim2real_test_{name}")

    def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, help="a test command")
        parser.add_argument("--value", default="x")
        return parser

    module.add_parser = add_parser  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, name, Command(module.__name__, "a test command"))


def raising(err: BaseException) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise err

    return run


def test_a_real_subcommand_error_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sim2real", "doctor", "--check", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "sim2real: error: unknown doctor check 'nosuch'; choose from: " + ", ".join(cli_checks())
    ]


def cli_checks() -> list[str]:
    from sim2real.doctor import CHECKS

    return list(CHECKS)


def test_a_sim2real_error_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch, "boom", raising(UsageError("robots/x.yaml: no such file\n  pass an existing path")))
    assert cli.main(["boom"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err == "sim2real: error: robots/x.yaml: no such file; pass an existing path\n"


def test_a_hardware_error_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hardware.errors import HardwareError

    register(monkeypatch, "boom", raising(HardwareError("ur5e.yaml: joint 'elbow' is not in the URDF")))
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err == "sim2real: error: ur5e.yaml: joint 'elbow' is not in the URDF\n"


def test_an_empty_message_still_says_what_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch, "boom", raising(Sim2RealError()))
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err == "sim2real: error: Sim2RealError\n"


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "boom", raising(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli.main(["boom"])


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "boom", raising(KeyboardInterrupt()))
    assert cli.main(["boom"]) == 130


def test_a_subcommand_gets_its_arguments_and_returns_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def run(args: argparse.Namespace) -> int:
        seen.append(args.value)
        return 7

    register(monkeypatch, "echo", run)
    assert cli.main(["echo", "--value", "hello"]) == 7
    assert seen == ["hello"]


def test_only_the_selected_subcommand_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    # A subcommand whose module cannot be imported (a missing extra) must not break the others.
    monkeypatch.setitem(cli.COMMANDS, "broken", Command("sim2real._no_such_module", "never imported"))
    register(monkeypatch, "echo", lambda args: 0)
    assert cli.main(["echo"]) == 0


def test_help_lists_the_subcommands_without_importing_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    for name, command in cli.COMMANDS.items():
        assert name in out and command.help in out


def test_a_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_help_stays_light() -> None:
    # `sim2real --help` must not pay for torch, MuJoCo or rclpy.
    code = (
        "import sys\n"
        "from sim2real.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'torch', 'mujoco', 'rclpy', 'pybullet', 'cv2'} & set(sys.modules)\n"
        "print('heavy:', sorted(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "heavy: []"


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "sim2real"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"sim2real {__version__}"
