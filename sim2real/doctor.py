"""``sim2real doctor``: check that every dependency is installed and actually works.

Each check is a small function returning a :class:`CheckResult`; doctor prints one line per
check (``OK`` or ``FAIL``, the check's name, what it found, and for a failure the fix), then
``N checks, M failed: <names>``. Exit status 0 when all pass, 1 otherwise.

Checks that can hang or kill their process on a broken install (rclpy with a missing RMW, the
GL backend, PyBullet) run in a child process with a timeout: see :mod:`sim2real.doctor_probes`.
Heavy modules are imported inside the checks, so importing this module costs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sim2real.doctor_probes import PROBE_MARKER
from sim2real.errors import UsageError

# How long a probe child process may run before doctor reports it as hung (s). The first
# import of rclpy or of a GL driver after an install can take a few seconds.
PROBE_TIMEOUT_S = 60.0

MIN_PYTHON = (3, 11)
DEFAULT_MUJOCO_GL = "egl"
RENDER_FIX = "set MUJOCO_GL=egl (apt-get install libegl1) or MUJOCO_GL=osmesa (apt-get install libosmesa6)"
FASTRTPS_FIX = "pip install ros-kilted-rmw-fastrtps-cpp"
# Python module -> what to pip install when it is missing.
PIP_FIX = {
    "numpy": "pip install numpy",
    "yaml": "pip install PyYAML",
    "mujoco": 'pip install "mujoco[sysid]>=4.0"',
    "pybullet": "pip install pybullet==3.2.7",
    "torch": "pip install torch==2.13.0",
    "rclpy": f"pip install ros-kilted-rclpy ros-kilted-std-msgs && {FASTRTPS_FIX}",
    "std_msgs": "pip install ros-kilted-std-msgs",
    "rosbags": "pip install rosbags mcap",
    "cv2": 'pip install "opencv-python-headless<5"',
    "onnxruntime": "pip install onnxruntime",
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    :param name: the check's short name (``rclpy``, ``opencv``, ...).
    :param ok: whether the component works.
    :param detail: what was found: versions, backend, what failed.
    :param fix: for a failure, the command or setting that fixes it; empty when ``ok``.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The one line doctor prints for this result."""
        status = "OK  " if self.ok else "FAIL"
        text = f"{status}  {self.name:<14} {self.detail}"
        return text if self.ok or not self.fix else f"{text}  ->  fix: {self.fix}"


def _missing(name: str, err: ImportError) -> CheckResult:
    """The result for a check whose module failed to import."""
    module = err.name or str(err)
    fix = PIP_FIX.get(module.split(".")[0], f"pip install {module}")
    return CheckResult(name, False, f"cannot import {module}: {err}", fix)


def _dist_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``?`` when unknown."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def run_probe(
    probe: str, *, env: Mapping[str, str] | None = None, timeout_s: float = PROBE_TIMEOUT_S
) -> tuple[dict[str, object] | None, str]:
    """Run ``python -m sim2real.doctor_probes PROBE`` in a child process.

    :param probe: the probe's name (a key of ``doctor_probes.PROBES``).
    :param env: the child's environment; ``None`` inherits doctor's.
    :param timeout_s: seconds before the child is killed and reported as hung.
    :returns: the probe's report (``None`` when the child printed none: it crashed, exited on
        its own or hung) and a one-line account of how the child ended, for failure details.
    """
    command = [sys.executable, "-m", "sim2real.doctor_probes", probe]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout_s:.0f} s (hung)"
    for line in done.stdout.splitlines():
        if line.startswith(PROBE_MARKER):
            report: dict[str, object] = json.loads(line[len(PROBE_MARKER) :])
            return report, ""
    errors = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    last = errors[-1] if errors else "no output"
    return None, f"exited with status {done.returncode}: {last}"


def check_python() -> CheckResult:
    """Python is 3.11 or newer."""
    found = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info < MIN_PYTHON:
        return CheckResult("python", False, f"{found} is older than 3.11", "use Python 3.11: make distclean venv")
    return CheckResult("python", True, f"{found} ({sys.executable})")


def check_core() -> CheckResult:
    """numpy and PyYAML, the only dependencies of ``hardware``, import."""
    try:
        import numpy
        import yaml
    except ImportError as err:
        return _missing("core", err)
    return CheckResult("core", True, f"numpy {numpy.__version__}, PyYAML {yaml.__version__}")


def check_mujoco() -> CheckResult:
    """MuJoCo 4 imports, and a tiny model compiles and steps."""
    try:
        import mujoco
    except ImportError as err:
        return _missing("mujoco", err)
    from sim2real.doctor_probes import TINY_MJCF

    model = mujoco.MjModel.from_xml_string(TINY_MJCF)
    data = mujoco.MjData(model)
    for _ in range(10):
        mujoco.mj_step(model, data)
    if int(mujoco.__version__.split(".")[0]) < 4:
        return CheckResult("mujoco", False, f"{mujoco.__version__} is older than 4.0", PIP_FIX["mujoco"])
    if not data.qpos[2] < 0.5:
        return CheckResult("mujoco", False, "a falling sphere did not fall", PIP_FIX["mujoco"])
    return CheckResult("mujoco", True, f"{mujoco.__version__}, compiled and stepped a model")


def check_mujoco_render() -> CheckResult:
    """MuJoCo renders 64x64 offscreen with the backend in MUJOCO_GL (default egl)."""
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", DEFAULT_MUJOCO_GL)}
    backend = f"MUJOCO_GL={env['MUJOCO_GL']}"
    report, how = run_probe("mujoco-render", env=env)
    if report is None:
        return CheckResult("mujoco-render", False, f"{backend}: renderer {how}", RENDER_FIX)
    if report.get("missing"):
        return CheckResult("mujoco-render", False, str(report["detail"]), PIP_FIX["mujoco"])
    if not report["ok"]:
        return CheckResult("mujoco-render", False, f"{backend}: {report['detail']}", RENDER_FIX)
    return CheckResult("mujoco-render", True, str(report["detail"]))


def check_pybullet() -> CheckResult:
    """PyBullet connects DIRECT, steps and disconnects (in a child process: it is C code)."""
    report, how = run_probe("pybullet")
    if report is None:
        return CheckResult("pybullet", False, f"pybullet probe {how}", PIP_FIX["pybullet"])
    fix = "" if report["ok"] else PIP_FIX["pybullet"]
    return CheckResult("pybullet", bool(report["ok"]), str(report["detail"]), fix)


def check_torch() -> CheckResult:
    """torch imports; reports its version and whether it is a CUDA build with a usable GPU."""
    try:
        import torch
    except ImportError as err:
        return _missing("torch", err)
    if torch.version.cuda is None:
        return CheckResult("torch", True, f"{torch.__version__}, CPU build")
    available = "available" if torch.cuda.is_available() else "not available"
    detail = f"{torch.__version__}, CUDA {torch.version.cuda} build, CUDA {available}"
    return CheckResult("torch", True, detail)


# rcl's message when RMW_IMPLEMENTATION names an RMW that is not installed (it then exits 102).
_RMW_MISMATCH = re.compile(r"Expected RMW implementation identifier of '([^']+)' but instead found '([^']+)'")
# The loader's message when no RMW library is installed at all (rclpy then fails to import).
_RMW_LIBRARY = re.compile(r"lib(rmw_\w+)\.so")


def _rmw_pip(rmw: str) -> str:
    """The pip command that installs RMW implementation ``rmw`` (``rmw_fastrtps_cpp``)."""
    return f"pip install ros-kilted-{rmw.replace('_', '-')}"


def check_rclpy() -> CheckResult:
    """rclpy with a working RMW: a node publishes a std_msgs/String and receives it.

    Runs in a child process on loopback only (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) with a
    random ROS_DOMAIN_ID, so it neither talks to robots on the network nor to a running graph,
    and a broken RMW can neither hang nor kill doctor.
    """
    domain_id = random.randint(1, 101)  # 0..101 is the portable DDS range; 0 is the default
    env = {
        **os.environ,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": str(domain_id),
    }
    requested = env.get("RMW_IMPLEMENTATION", "")
    report, how = run_probe("rclpy", env=env)
    if report is None:
        mismatch = _RMW_MISMATCH.search(how)
        if mismatch:
            # rcl exits the whole process with status 102 on `import rclpy` in this case.
            wanted, found = mismatch.groups()
            detail = (
                f"RMW_IMPLEMENTATION={wanted} is not installed "
                f"(rcl exited with status 102 on import rclpy; installed: {found})"
            )
            fix = f"unset RMW_IMPLEMENTATION to use {found}, or {_rmw_pip(wanted)}"
            return CheckResult("rclpy", False, detail, fix)
        if requested:
            detail = f"RMW_IMPLEMENTATION={requested}: rclpy probe {how}"
            return CheckResult("rclpy", False, detail, f"unset RMW_IMPLEMENTATION; {FASTRTPS_FIX}")
        return CheckResult("rclpy", False, f"rclpy probe {how}", FASTRTPS_FIX)
    detail = str(report["detail"])
    if report.get("missing"):
        library = _RMW_LIBRARY.search(detail)
        if library:  # rclpy is there but its RMW is not: the import of its C extension fails
            fix = _rmw_pip(library.group(1))
        else:
            fix = PIP_FIX.get(str(report["missing"]), PIP_FIX["rclpy"])
        return CheckResult("rclpy", False, detail, fix)
    if not report["ok"]:
        # The RMW loaded but the message never came back: discovery on loopback is broken.
        fix = f"check that the loopback interface is up, or reinstall the RMW: {FASTRTPS_FIX}"
        return CheckResult("rclpy", False, detail, fix)
    return CheckResult("rclpy", True, detail)


def check_rosbags() -> CheckResult:
    """rosbags writes a one-message rosbag2 MCAP bag and reads it back."""
    try:
        from rosbags.rosbag2 import Reader, StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore
    except ImportError as err:
        return _missing("rosbags", err)
    typestore = get_typestore(Stores.ROS2_KILTED)
    string_type = typestore.types["std_msgs/msg/String"]
    with tempfile.TemporaryDirectory(prefix="sim2real-doctor-") as tmp:
        bag = Path(tmp) / "bag"
        # version 9 is what Kilted's rosbag2 writes; rosbags requires it explicitly.
        with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            connection = writer.add_connection("/doctor", "std_msgs/msg/String", typestore=typestore)
            raw = typestore.serialize_cdr(string_type(data="sim2real"), "std_msgs/msg/String")
            writer.write(connection, 42, raw)
        with Reader(bag) as reader:
            messages = [
                getattr(typestore.deserialize_cdr(data, c.msgtype), "data", None) for c, _, data in reader.messages()
            ]
    if messages != ["sim2real"]:
        return CheckResult("rosbags", False, f"read back {messages!r} instead of ['sim2real']", PIP_FIX["rosbags"])
    return CheckResult("rosbags", True, f"{_dist_version('rosbags')}, wrote and read an MCAP bag")


def check_opencv() -> CheckResult:
    """OpenCV imports and has cv2.calibrateHandEye (OpenCV 5's Python wheel lacks it)."""
    try:
        import cv2
    except ImportError as err:
        return _missing("opencv", err)
    if not hasattr(cv2, "calibrateHandEye"):
        detail = f"{cv2.__version__} lacks cv2.calibrateHandEye"
        return CheckResult("opencv", False, detail, PIP_FIX["cv2"])
    return CheckResult("opencv", True, f"{cv2.__version__}, has calibrateHandEye")


def check_onnxruntime() -> CheckResult:
    """onnxruntime runs a tiny ONNX graph built with ``onnx.helper`` (y = x + x)."""
    try:
        import numpy as np
        import onnxruntime
    except ImportError as err:
        return _missing("onnxruntime", err)
    try:
        from onnx import TensorProto, helper
    except ImportError:
        # onnx comes with the train extra; a robot computer runs bundles without it.
        return CheckResult("onnxruntime", True, f"{onnxruntime.__version__} (no onnx to test)")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "doctor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    # Opset 13 and IR 8 are old enough for any onnxruntime this project may meet.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    (y,) = session.run(None, {"x": x})
    if not np.array_equal(y, x + x):
        return CheckResult("onnxruntime", False, "x + x came out wrong", PIP_FIX["onnxruntime"])
    return CheckResult("onnxruntime", True, f"{onnxruntime.__version__}, ran an ONNX graph")


# Every check in the order doctor runs them: name -> function.
CHECKS: dict[str, Callable[[], CheckResult]] = {
    "python": check_python,
    "core": check_core,
    "mujoco": check_mujoco,
    "mujoco-render": check_mujoco_render,
    "pybullet": check_pybullet,
    "torch": check_torch,
    "rclpy": check_rclpy,
    "rosbags": check_rosbags,
    "opencv": check_opencv,
    "onnxruntime": check_onnxruntime,
}


def run_check(name: str) -> CheckResult:
    """Run check ``name``; a check that crashes is a failed result, not a crashed doctor."""
    try:
        return CHECKS[name]()
    except Exception as err:
        detail = f"check crashed: {type(err).__name__}: {err}"
        return CheckResult(name, False, " ".join(detail.split()), "report this as a sim2real bug")


def summary(results: list[CheckResult]) -> str:
    """The closing line: ``N checks, M failed`` and the names of the failed checks."""
    failed = [result.name for result in results if not result.ok]
    text = f"{len(results)} check{'' if len(results) == 1 else 's'}, {len(failed)} failed"
    return f"{text}: {', '.join(failed)}" if failed else text


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Declare ``sim2real doctor`` and its arguments."""
    parser = subparsers.add_parser(
        "doctor",
        help="check that every dependency is installed and works",
        description="Check each dependency (one line each) and say how to fix what is broken. "
        "Exit status 0 when everything works, 1 otherwise.",
    )
    parser.add_argument(
        "--check",
        action="append",
        metavar="NAME",
        help=f"run only this check (repeatable); one of: {', '.join(CHECKS)}",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the selected checks (all by default), print one line each and a summary."""
    names: list[str] = args.check or list(CHECKS)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise UsageError(f"unknown doctor check {', '.join(map(repr, unknown))}; choose from: {', '.join(CHECKS)}")
    # MuJoCo picks its GL backend from MUJOCO_GL when it is first imported.
    os.environ.setdefault("MUJOCO_GL", DEFAULT_MUJOCO_GL)
    results = []
    for name in names:
        result = run_check(name)
        print(result.line(), flush=True)
        results.append(result)
    print(summary(results))
    return 0 if all(result.ok for result in results) else 1
