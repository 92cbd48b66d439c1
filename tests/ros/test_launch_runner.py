"""The launch runner and ``sim2real launch``: real processes (a real rclpy node among them), no mocks.

Node executables live in a temporary ament prefix (``lib/launchtest/<exec>``); those that run
until stopped write their pid to ``$PID_DIR`` so that the tests can check that none outlives
the launch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim2real_ros.launch_file import LaunchRunError, load_launch
from sim2real_ros.launch_runner import LaunchRunner
from tests.ros.launch_helpers import (
    COUNTER,
    EXITER,
    PACKAGE,
    RCL_PROBE,
    SLEEPER,
    STUBBORN,
    TALKER,
    Lines,
    make_prefix,
    pid_alive,
    read_pids,
    wait_until,
    write,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    executables = {
        "sleeper": SLEEPER,
        "stubborn": STUBBORN,
        "counter": COUNTER,
        "exiter": EXITER,
        "talker": TALKER,
        "rcl_probe": RCL_PROBE,
    }
    root = make_prefix(tmp_path / "prefix", executables)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(root))
    (tmp_path / "pids").mkdir()
    monkeypatch.setenv("PID_DIR", str(tmp_path / "pids"))
    return root


def run_launch(tmp_path: Path, text: str, timeout_s: float = 15.0, **kwargs: float) -> tuple[LaunchRunner, Lines]:
    """Run a launch file to its end in this process; the runner and its output lines."""
    lines = Lines()
    runner = LaunchRunner(load_launch(write(tmp_path / "t.launch.yaml", text)), on_line=lines, **kwargs)
    with runner:
        runner.start()
        assert runner.wait(timeout_s) is not None, f"the launch did not end in {timeout_s} s: {lines.all}"
    return runner, lines


def test_a_real_rclpy_node_gets_its_name_namespace_parameters_and_remaps(tmp_path: Path) -> None:
    params = write(tmp_path / "params.yaml", "/**:\n  ros__parameters:\n    from_file: 7\n")
    runner, lines = run_launch(
        tmp_path,
        f"""
        launch:
        - group:
            children:
            - push-ros-namespace: {{namespace: robot1}}
            - node:
                pkg: {PACKAGE}
                exec: rcl_probe
                name: probe
                namespace: arm
                args: "first 'second arg'"
                param:
                - {{name: count, value: "5"}}
                - {{name: label, value: "'5'"}}
                - {{name: gain, value: 0.25}}
                - {{name: enabled, value: true}}
                - {{name: goal, value: [0.4, 0.1, 0.5]}}
                - {{name: names, value: [a, b]}}
                - {{name: pid, param: [{{name: kp, value: 2.0}}]}}
                - {{from: {params}}}
                remap: [{{from: chatter, to: remapped/chatter}}]
        """,
    )
    assert runner.returncode == 0
    assert lines.of("probe") == [
        "fqn /robot1/arm/probe",
        "param count 5",
        "param enabled True",
        "param from_file 7",
        "param gain 0.25",
        "param goal [0.4, 0.1, 0.5]",
        "param label '5'",
        "param names ['a', 'b']",
        "param pid.kp 2.0",
        "param start_type_description_service True",
        "param use_sim_time False",
        "resolved /robot1/arm/remapped/chatter",
        "publisher /robot1/arm/remapped/chatter",
        "args ['first', 'second arg']",
    ]


def test_output_lines_are_prefixed_with_unique_labels_and_log_output_goes_to_a_file(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    runner, lines = run_launch(
        tmp_path,
        f"""
        launch:
        - node: {{pkg: {PACKAGE}, exec: talker, args: one}}
        - node: {{pkg: {PACKAGE}, exec: talker, args: two}}
        - node: {{pkg: {PACKAGE}, exec: talker, args: quiet, name: quiet, output: log}}
        """,
        log_dir=log_dir,
    )
    assert runner.returncode == 0
    for label, word in (("talker", "one"), ("talker-2", "two")):
        mine = lines.of(label)
        assert sorted(mine) == sorted(f"{word} {stream} {i}" for stream in ("out", "err") for i in range(3))
        assert [line for line in mine if "out" in line] == [f"{word} out {i}" for i in range(3)]  # in order
    assert lines.of("quiet") == []
    assert sorted((log_dir / "quiet.log").read_text().splitlines()) == sorted(
        f"quiet {stream} {i}" for stream in ("out", "err") for i in range(3)
    )
    assert f"[launch] quiet: output in {log_dir / 'quiet.log'}" in lines.all
    assert all(line.startswith("[") for line in lines.all)


def test_respawn_restarts_a_node_until_its_retries_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "count"))
    runner, lines = run_launch(
        tmp_path,
        f"""
        launch:
        - node: {{pkg: {PACKAGE}, exec: counter, args: "1", respawn: true, respawn_delay: 0.05, respawn_max_retries: 3}}
        """,
    )
    assert (tmp_path / "count").read_text().splitlines() == ["run"] * 4
    assert [e.returncode for e in runner.exits] == [1] * 4
    assert lines.all.count("[launch] counter: respawning in 0.05 s") == 3
    assert runner.returncode == 1  # the node's last run failed


def test_on_exit_shutdown_stops_the_others_and_sets_the_status_and_respawning_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNT_FILE", str(tmp_path / "count"))
    started = time.monotonic()
    runner, lines = run_launch(
        tmp_path,
        f"""
        launch:
        - node: {{pkg: {PACKAGE}, exec: sleeper, args: sleeper}}
        - node: {{pkg: {PACKAGE}, exec: counter, args: "0", respawn: true, respawn_delay: 0.1}}
        - node: {{pkg: {PACKAGE}, exec: exiter, args: "1.0 3", on_exit: shutdown}}
        """,
    )
    assert runner.returncode == 3
    assert time.monotonic() - started < 4.0  # the sleeper went at SIGINT, not after a timeout
    assert not pid_alive(read_pids(tmp_path / "pids")["sleeper"])
    assert "[launch] shutting down: exiter exited (on_exit: shutdown)" in lines.all
    runs = len((tmp_path / "count").read_text().splitlines())
    assert runs >= 2
    time.sleep(0.3)
    assert len((tmp_path / "count").read_text().splitlines()) == runs  # no respawn after shutdown


def test_nodes_ignoring_sigint_get_sigterm_then_sigkill_with_their_children(tmp_path: Path) -> None:
    lines = Lines()
    description = load_launch(
        write(
            tmp_path / "t.launch.yaml",
            f"""
            launch:
            - node: {{pkg: {PACKAGE}, exec: stubborn, args: "int_only", name: int_only}}
            - node: {{pkg: {PACKAGE}, exec: stubborn, args: "both term child", name: both}}
            - node: {{pkg: {PACKAGE}, exec: sleeper, args: polite, name: polite}}
            """,
        )
    )
    runner = LaunchRunner(description, on_line=lines, sigterm_timeout_s=0.5, sigkill_timeout_s=0.5)
    runner.start()
    assert wait_until(lambda: len(read_pids(tmp_path / "pids")) == 4, 10.0), lines.all
    pids = read_pids(tmp_path / "pids")
    started = time.monotonic()
    assert runner.shutdown("test", returncode=7) == 7
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3.0
    codes = {e.label: e.returncode for e in runner.exits}
    assert codes["int_only"] == -signal.SIGTERM and codes["both"] == -signal.SIGKILL
    assert codes["polite"] != -signal.SIGTERM and codes["polite"] != -signal.SIGKILL
    assert "[launch] both: still running 0.5 s after SIGTERM, sending SIGKILL" in lines.all
    assert wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()), 2.0), pids


def test_no_node_survives_an_exception_in_the_launching_code(tmp_path: Path) -> None:
    description = load_launch(
        write(tmp_path / "t.launch.yaml", f"launch:\n- node: {{pkg: {PACKAGE}, exec: sleeper}}\n")
    )
    with pytest.raises(RuntimeError, match="boom"), LaunchRunner(description, on_line=Lines()) as runner:
        runner.start()
        assert wait_until(lambda: "node" in read_pids(tmp_path / "pids"), 10.0)
        raise RuntimeError("boom")
    assert not pid_alive(read_pids(tmp_path / "pids")["node"])


def test_a_node_that_cannot_start_stops_the_others(tmp_path: Path, prefix: Path) -> None:
    broken = prefix / "lib" / PACKAGE / "broken"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    text = f"launch:\n- node: {{pkg: {PACKAGE}, exec: sleeper}}\n- node: {{pkg: {PACKAGE}, exec: broken}}\n"
    runner = LaunchRunner(load_launch(write(tmp_path / "t.launch.yaml", text)), on_line=Lines())
    with pytest.raises(LaunchRunError, match="could not start node broken"):
        runner.start()
    assert all(not pid_alive(e.pid) for e in runner.exits) and [e.label for e in runner.exits] == ["sleeper"]


def test_a_python_module_node_runs_with_python_m(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "modules"
    write(modules / "launchmodpkg" / "__init__.py", "")
    write(modules / "launchmodpkg" / "hello_node.py", "import sys\nprint('module', __name__, sys.argv[1:])\n")
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("PYTHONPATH", str(modules))
    runner, lines = run_launch(tmp_path, "launch:\n- node: {pkg: launchmodpkg, exec: hello_node, name: hi}\n")
    assert lines.of("hi") == ["module __main__ ['--ros-args', '-r', '__node:=hi']"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sim2real", "launch", *args]


SPINNING = f"""
launch:
- node: {{pkg: {PACKAGE}, exec: rcl_probe, args: spin, name: spinner}}
- node: {{pkg: {PACKAGE}, exec: sleeper, args: sleeper}}
- node: {{pkg: {PACKAGE}, exec: stubborn, args: stubborn}}
"""


def test_ctrl_c_stops_every_node_and_exits_130(tmp_path: Path) -> None:
    path = write(tmp_path / "t.launch.yaml", SPINNING)
    launch = subprocess.Popen(
        cli(str(path), "--sigterm-timeout", "0.5"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert wait_until(lambda: len(read_pids(tmp_path / "pids")) == 3, 15.0)
        pids = read_pids(tmp_path / "pids")
        launch.send_signal(signal.SIGINT)
        output, _ = launch.communicate(timeout=10.0)
    finally:
        launch.kill()
    assert launch.returncode == 130, output
    assert not any(pid_alive(pid) for pid in pids.values())
    assert "[launch] shutting down: SIGINT received" in output
    assert "[spinner] probe shut down cleanly" in output
    assert "[launch] stubborn: still running 0.5 s after SIGINT, sending SIGTERM" in output


def test_nodes_die_with_a_killed_runner(tmp_path: Path) -> None:
    path = write(tmp_path / "t.launch.yaml", f"launch:\n- node: {{pkg: {PACKAGE}, exec: stubborn, args: s}}\n")
    launch = subprocess.Popen(cli(str(path)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: "s" in read_pids(tmp_path / "pids"), 15.0)
    finally:
        launch.kill()
        launch.wait()
    assert wait_until(lambda: not pid_alive(read_pids(tmp_path / "pids")["s"]), 3.0)


def test_print_shows_the_commands_and_starts_nothing(tmp_path: Path, prefix: Path) -> None:
    path = write(tmp_path / "t.launch.yaml", SPINNING)
    result = subprocess.run(cli(str(path), "--print"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    probe = prefix / "lib" / PACKAGE / "rcl_probe"
    assert result.stdout.splitlines()[0] == f"spinner: {probe} spin --ros-args -r __node:=spinner"
    assert len(result.stdout.splitlines()) == 3
    time.sleep(0.2)
    assert read_pids(tmp_path / "pids") == {}


def test_command_line_errors_are_one_line_with_status_2(tmp_path: Path) -> None:
    path = write(tmp_path / "t.launch.yaml", "launch:\n- timer: {period: 1.0}\n")
    result = subprocess.run(cli(str(path)), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sim2real: error: {path}: unsupported action 'timer'; sim2real launch supports arg, let, include, group, "
        "push-ros-namespace, push_ros_namespace, node (the ROS 2 YAML launch frontend's other tags need ros2 launch)"
    ]
    result = subprocess.run(cli("no_such_launch", "x:=1"), capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    available = sorted(p.name.removesuffix(".launch.yaml") for p in (REPO / "launch").glob("*.launch.yaml"))
    assert result.stderr.strip() == (
        "sim2real: error: launch file no_such_launch not found; give a path, or one of the launch files in "
        f"launch/: {', '.join(available) or 'none'}"
    )


def test_children_inherit_the_environment_and_get_unbuffered_python(tmp_path: Path) -> None:
    text = f"""
    launch:
    - node:
        pkg: {PACKAGE}
        exec: exiter
        args: "0 0"
        env: [{{name: EXTRA, value: added}}]
    """
    # exiter replaced by a script that prints what the runner gave it
    (tmp_path / "prefix" / "lib" / PACKAGE / "exiter").write_text(
        f"#!{sys.executable}\nimport os\n"
        "print(os.environ['ROS_DOMAIN_ID'], os.environ['EXTRA'], os.environ['PYTHONUNBUFFERED'])\n"
    )
    _, lines = run_launch(tmp_path, text)
    assert lines.of("exiter") == [f"{os.environ['ROS_DOMAIN_ID']} added 1"]
