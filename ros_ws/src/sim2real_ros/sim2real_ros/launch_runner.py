"""Start the nodes of a :class:`~sim2real_ros.launch_file.LaunchDescription` and supervise them.

What ``ros2 launch`` does with the processes, for machines without it (see
:mod:`sim2real_ros.launch_file`):

- each node runs in its own process and process group, with the runner's environment plus its
  ``env`` entries and ``PYTHONUNBUFFERED=1`` (so a Python node's prints arrive line by line);
- its standard output and error are read line by line: ``screen`` prints each as
  ``[label] line``, ``log`` writes it to ``<log_dir>/<label>.log``, ``both`` does both;
- ``respawn``: an exited node is started again after ``respawn_delay`` seconds (at most
  ``respawn_max_retries`` times), except while the launch shuts down;
- ``on_exit: shutdown``: that node's exit shuts the launch down, and the runner's status is the
  node's (0 if it exited with 0, its status if it failed, 128 + N if signal N killed it);
- when every node has exited and none will respawn, the runner ends: status 0 if every node's
  last run exited with 0, else 1;
- shutdown: SIGINT to every node's process group, SIGTERM to those still running after
  ``sigterm_timeout_s``, SIGKILL after ``sigkill_timeout_s`` more (ros2 launch's escalation).

No orphans: on Linux each node gets ``PR_SET_PDEATHSIG`` (SIGKILL), so it dies with the runner
even when the runner is killed with SIGKILL; an exception inside the runner kills every node; and
``with LaunchRunner(...)`` shuts the nodes down however the block is left. The runner's own
messages are lines starting with ``[launch]``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from sim2real_ros.launch_errors import LaunchRunError
from sim2real_ros.launch_file import LaunchDescription, NodeSpec

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class NodeExit:
    """One exit of a node's process.

    :param label: the node's label.
    :param pid: the process id it had.
    :param returncode: its exit status; negative: killed by that signal (``-signal.SIGKILL``).
    """

    label: str
    pid: int
    returncode: int


@dataclass
class _Node:
    """A node and its current process (``popen`` is ``None`` while it is not running)."""

    spec: NodeSpec
    popen: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    respawns: int = 0
    respawn_at: float | None = None  # time.monotonic() of the pending restart
    log: IO[str] | None = None
    last_returncode: int | None = None
    ended_in_shutdown: list[int] = field(default_factory=list)  # process groups to sweep


def exit_status(returncode: int) -> int:
    """A child's return code as a shell exit status (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else min(returncode, 255)


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return "exited cleanly" if returncode == 0 else f"exited with status {returncode}"


def default_log_dir() -> Path:
    """``$ROS_LOG_DIR`` (else ``$ROS_HOME/log``, else ``~/.ros/log``) / ``sim2real_launch_<time>_<pid>``."""
    base = os.environ.get("ROS_LOG_DIR") or str(Path(os.environ.get("ROS_HOME") or Path.home() / ".ros") / "log")
    return Path(base).expanduser() / f"sim2real_launch_{time.strftime('%Y-%m-%d-%H-%M-%S')}_{os.getpid()}"


def _die_with_runner() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the runner's thread that started it
    dies (Linux ``PR_SET_PDEATHSIG``); ``None`` elsewhere. Every node is started from the
    runner's supervising thread, which outlives them all."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    runner_pid = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != runner_pid:  # the runner died before prctl took effect
            os._exit(1)

    return preexec


class LaunchRunner:
    """Runs the nodes of a launch description until they end or it is shut down.

    :param description: what :func:`~sim2real_ros.launch_file.load_launch` returned.
    :param on_line: called with every output line (``[label] text`` and the runner's
        ``[launch] ...`` messages), from the runner's threads, one call at a time; default: print.
    :param log_dir: folder for the ``log``/``both`` nodes' files; default :func:`default_log_dir`,
        created only if such a node exists.
    :param sigterm_timeout_s: seconds between SIGINT and SIGTERM on shutdown.
    :param sigkill_timeout_s: seconds between SIGTERM and SIGKILL on shutdown.
    :param poll_interval_s: how often the runner checks its processes (seconds).
    """

    def __init__(
        self,
        description: LaunchDescription,
        *,
        on_line: Callable[[str], None] | None = None,
        log_dir: Path | None = None,
        sigterm_timeout_s: float = 5.0,
        sigkill_timeout_s: float = 5.0,
        poll_interval_s: float = 0.02,
    ) -> None:
        self.description = description
        self._on_line = on_line or (lambda line: print(line, flush=True))
        self._log_dir = log_dir
        self._sigterm_timeout_s = sigterm_timeout_s
        self._sigkill_timeout_s = sigkill_timeout_s
        self._poll_interval_s = poll_interval_s
        self._nodes = [_Node(spec) for spec in description.nodes]
        self._emit_lock = threading.Lock()
        self._request_lock = threading.Lock()
        self._request: tuple[str, int] | None = None
        self._wake = threading.Event()
        self._started = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._returncode: int | None = None
        self._exits: list[NodeExit] = []
        self._phase: str | None = None  # None while running, then "SIGINT", "SIGTERM", "SIGKILL"
        self._phase_since = 0.0
        self._shutdown_returncode = 0
        self._preexec = _die_with_runner()

    # -- public API ---------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        """The launch's exit status once it has ended (see the module docstring), else ``None``."""
        return self._returncode

    @property
    def exits(self) -> list[NodeExit]:
        """Every process exit so far, in order."""
        return list(self._exits)

    @property
    def log_dir(self) -> Path | None:
        """Where the ``log`` nodes write, once one has started."""
        return self._log_dir

    def pids(self) -> dict[str, int]:
        """The process id of each node now running, by label."""
        return {node.spec.label: node.popen.pid for node in self._nodes if node.popen is not None}

    def start(self) -> None:
        """Start every node; returns once they are all started.

        :raises LaunchRunError: a node could not be started (the others are stopped again).
        """
        if self._thread is not None:
            raise RuntimeError("LaunchRunner.start() was already called; make a new runner to launch again")
        self._thread = threading.Thread(target=self._supervise, name="sim2real-launch", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self._done.wait()
            raise self._error

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait until the launch has ended; its exit status, or ``None`` after ``timeout_s``."""
        if not self._done.wait(timeout_s):
            return None
        if self._error is not None:
            raise self._error
        return self._returncode

    def request_shutdown(self, reason: str = "shutdown requested", returncode: int = 0) -> None:
        """Begin shutting down without waiting (a second request changes nothing).

        :param reason: shown in the ``[launch]`` message.
        :param returncode: the launch's exit status once down (130 after Ctrl-C, by convention).
        """
        with self._request_lock:
            if self._request is None:
                self._request = (reason, returncode)
        self._wake.set()

    def shutdown(
        self, reason: str = "shutdown requested", returncode: int = 0, timeout_s: float | None = None
    ) -> int | None:
        """Shut down and wait for every node to be gone; the exit status (see :meth:`request_shutdown`)."""
        if self._thread is None:
            return self._returncode
        self.request_shutdown(reason, returncode)
        self._done.wait(timeout_s)
        return self._returncode

    def __enter__(self) -> LaunchRunner:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.shutdown("leaving the runner's with block" if kind is None else f"{kind.__name__} in the launching code")

    # -- supervision (runs on the runner's thread) ----------------------------------------------

    def _emit(self, line: str) -> None:
        with self._emit_lock:
            try:
                self._on_line(line)
            except (BrokenPipeError, ValueError):  # stdout closed under us: keep supervising
                pass

    def _say(self, message: str) -> None:
        self._emit(f"[launch] {message}")

    def _supervise(self) -> None:
        try:
            try:
                for node in self._nodes:
                    self._spawn(node)
            except LaunchRunError as err:  # stop the nodes already started, then start() raises
                self._error = err
                self._begin_shutdown(f"a node could not start: {err}", 1)
            else:
                self._started.set()
            self._loop()
        except BaseException as err:  # a bug or a failed start: no node may outlive the runner
            self._error = err
            self._kill_all()
            if self._returncode is None:
                self._returncode = 1
        finally:
            for node in self._nodes:
                if node.log is not None:
                    node.log.close()
            self._started.set()
            self._done.set()

    def _spawn(self, node: _Node) -> None:
        spec = node.spec
        if spec.output != "screen" and node.log is None:
            if self._log_dir is None:
                self._log_dir = default_log_dir()
            self._log_dir.mkdir(parents=True, exist_ok=True)
            path = self._log_dir / (spec.label.replace("/", "_") + ".log")
            node.log = path.open("a", encoding="utf-8")
            self._say(f"{spec.label}: output in {path}")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        try:
            popen = subprocess.Popen(
                spec.cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,  # its own process group: signals reach its children too
                preexec_fn=self._preexec,
            )
        except OSError as err:
            raise LaunchRunError(
                f"{spec.file}: could not start node {spec.label} ({spec.cmd[0]}): {err.strerror or err}"
            ) from err
        node.popen = popen
        node.reader = threading.Thread(target=self._read, args=(node, popen), daemon=True)
        node.reader.start()
        self._say(f"{spec.label}: started, pid {popen.pid}")

    def _read(self, node: _Node, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None  # Popen(stdout=PIPE) sets it
        show = node.spec.output in ("screen", "both")
        for raw in iter(popen.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if show:
                self._emit(f"[{node.spec.label}] {line}")
            if node.log is not None:
                with self._emit_lock:
                    node.log.write(line + "\n")
                    node.log.flush()
        popen.stdout.close()

    def _loop(self) -> None:
        while True:
            self._reap()
            with self._request_lock:
                request = self._request
            if request is not None and self._phase is None:
                self._begin_shutdown(*request)
            if self._phase is None:
                self._respawn_due()
            running = any(node.popen is not None for node in self._nodes)
            if self._phase is None:
                pending = any(node.respawn_at is not None for node in self._nodes)
                if not running and not pending:
                    last = [node.last_returncode for node in self._nodes]
                    self._returncode = 0 if all(code == 0 for code in last) else 1
                    self._say(f"every node has exited; launch status {self._returncode}")
                    return
            elif not running:
                self._sweep()
                self._returncode = self._shutdown_returncode
                self._say(f"all nodes are down; launch status {self._returncode}")
                return
            else:
                self._escalate()
            self._wake.wait(self._poll_interval_s)
            self._wake.clear()

    def _reap(self) -> None:
        for node in self._nodes:
            popen = node.popen
            if popen is None or popen.poll() is None:
                continue
            if node.reader is not None:
                node.reader.join(timeout=1.0)  # its last lines come out before the exit message
            returncode = popen.returncode
            node.popen, node.last_returncode = None, returncode
            self._exits.append(NodeExit(node.spec.label, popen.pid, returncode))
            self._say(f"{node.spec.label}: {_describe(returncode)} (pid {popen.pid})")
            if self._phase is not None:
                node.ended_in_shutdown.append(popen.pid)
            elif node.spec.shutdown_on_exit:
                self._begin_shutdown(f"{node.spec.label} exited (on_exit: shutdown)", exit_status(returncode))
            elif node.spec.respawn and (
                node.spec.respawn_max_retries < 0 or node.respawns < node.spec.respawn_max_retries
            ):
                node.respawn_at = time.monotonic() + node.spec.respawn_delay_s
                self._say(f"{node.spec.label}: respawning in {node.spec.respawn_delay_s:g} s")

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for node in self._nodes:
            if node.respawn_at is not None and now >= node.respawn_at:
                node.respawn_at = None
                node.respawns += 1
                try:
                    self._spawn(node)
                except LaunchRunError as err:
                    self._say(f"{node.spec.label}: not respawned: {err}")
                    node.last_returncode = 127

    def _begin_shutdown(self, reason: str, returncode: int) -> None:
        self._phase, self._phase_since = "SIGINT", time.monotonic()
        self._shutdown_returncode = returncode
        for node in self._nodes:
            node.respawn_at = None
        self._say(f"shutting down: {reason}")
        self._signal_running(signal.SIGINT)

    def _escalate(self) -> None:
        waited = time.monotonic() - self._phase_since
        if self._phase == "SIGINT" and waited >= self._sigterm_timeout_s:
            self._phase, self._phase_since = "SIGTERM", time.monotonic()
            self._signal_running(signal.SIGTERM, f"still running {self._sigterm_timeout_s:g} s after SIGINT")
        elif self._phase == "SIGTERM" and waited >= self._sigkill_timeout_s:
            self._phase, self._phase_since = "SIGKILL", time.monotonic()
            self._signal_running(signal.SIGKILL, f"still running {self._sigkill_timeout_s:g} s after SIGTERM")

    def _signal_running(self, sig: signal.Signals, why: str = "") -> None:
        for node in self._nodes:
            if node.popen is None:
                continue
            if why:
                self._say(f"{node.spec.label}: {why}, sending {sig.name}")
            try:
                os.killpg(node.popen.pid, sig)
            except ProcessLookupError:
                pass
            except PermissionError:  # its group is gone and the id reused: signal the process only
                node.popen.send_signal(sig)

    def _sweep(self) -> None:
        """SIGKILL what is left of the process groups of nodes that exited during the shutdown
        (a node's own child processes that did not exit with it)."""
        for node in self._nodes:
            for pgid in node.ended_in_shutdown:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            node.ended_in_shutdown.clear()

    def _kill_all(self) -> None:
        for node in self._nodes:
            if node.popen is None:
                continue
            try:
                os.killpg(node.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                node.popen.kill()
            node.popen.wait()
            self._exits.append(NodeExit(node.spec.label, node.popen.pid, node.popen.returncode))
            node.popen = None
