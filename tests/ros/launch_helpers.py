"""Helpers of the ``sim2real launch`` tests: temporary ament prefixes holding tiny node executables,
launch files written from text, and process checks."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

PACKAGE = "launchtest"


def make_prefix(root: Path, executables: Mapping[str, str], package: str = PACKAGE) -> Path:
    """An ament prefix at ``root`` in which ``package`` is registered and each executable is a
    Python script (its body dedented, run by this interpreter), where colcon would install it:
    ``<root>/lib/<package>/<name>``. Returns ``root``."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    (index / package).write_text("")
    (root / "share" / package).mkdir(parents=True, exist_ok=True)
    folder = root / "lib" / package
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in executables.items():
        script = folder / name
        script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        script.chmod(0o755)
    return root


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented) to ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def read_pids(folder: Path) -> dict[str, int]:
    """``{name: pid}`` from the ``<name>.pid`` files that the test nodes write."""
    return {path.stem: int(path.read_text()) for path in folder.glob("*.pid") if path.read_text().strip()}


class Lines:
    """Collects a runner's output lines (its ``on_line`` callback), safe across threads."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    @property
    def all(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def of(self, label: str) -> list[str]:
        """The lines of node ``label``, prefix removed."""
        prefix = f"[{label}] "
        return [line[len(prefix) :] for line in self.all if line.startswith(prefix)]


# Node executables. Each writes its pid to $PID_DIR/<first argument>.pid when PID_DIR is set.
PID_PRELUDE = """
import os, sys, time
NAME = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--ros-args" else "node"
def write_pid(name=NAME, pid=None):
    if os.environ.get("PID_DIR"):
        path = os.path.join(os.environ["PID_DIR"], name + ".pid")
        with open(path + ".tmp", "w") as f:
            f.write(str(pid or os.getpid()))
        os.replace(path + ".tmp", path)
"""

SLEEPER = (
    PID_PRELUDE
    + """
write_pid()
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""
)

# Ignores SIGINT; with "term" as second argument SIGTERM too; with "child" it also starts a
# grandchild (in its process group) that ignores both and records its own pid.
STUBBORN = (
    PID_PRELUDE
    + """
import signal, subprocess
signal.signal(signal.SIGINT, signal.SIG_IGN)
if "term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "child" in sys.argv:
    code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); " \\
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code])
    write_pid(NAME + "_child", child.pid)
write_pid()
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""
)

# Appends a line to $COUNT_FILE, then exits with the status given as first argument.
COUNTER = """
import os, sys
with open(os.environ["COUNT_FILE"], "a") as f:
    f.write("run\\n")
sys.exit(int(sys.argv[1]))
"""

# Sleeps argv[1] seconds, prints, exits with argv[2].
EXITER = """
import sys, time
time.sleep(float(sys.argv[1]))
print("leaving with", sys.argv[2], flush=True)
sys.exit(int(sys.argv[2]))
"""

# Prints three numbered lines to stdout and to stderr (argv[1] names them).
TALKER = """
import sys
for i in range(3):
    print(f"{sys.argv[1]} out {i}")
    print(f"{sys.argv[1]} err {i}", file=sys.stderr)
"""

# A real rclpy node: reports what rclpy made of its command line. With "spin" as an argument it
# records its pid and spins until shut down instead.
RCL_PROBE = (
    PID_PRELUDE
    + """
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import String

rclpy.init(args=sys.argv)
node = Node("probe_default_name", automatically_declare_parameters_from_overrides=True)
if "spin" in rclpy.utilities.remove_ros_args(sys.argv):
    write_pid("rcl_probe")
    print("spinning", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print("probe shut down cleanly", flush=True)
    raise SystemExit(0)
print("fqn", node.get_fully_qualified_name())
for name, parameter in sorted(node.get_parameters_by_prefix("").items()):
    print("param", name, repr(parameter.value))
publisher = node.create_publisher(String, "chatter", 1)
print("resolved", node.resolve_topic_name("chatter"))
print("publisher", publisher.topic_name)
print("args", rclpy.utilities.remove_ros_args(sys.argv)[1:])
node.destroy_node()
rclpy.shutdown()
"""
)
