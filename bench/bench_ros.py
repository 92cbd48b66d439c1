"""ROS 2 deployment benchmark: the policy node's tick latency and loop-rate jitter at 100 and
500 Hz, beside a bare rclpy ping-pong round trip measured in the same run as the floor.

- **floor**: this process publishes ``sensor_msgs/JointState`` pings (as joint states) at 500 Hz;
  ``bench/ros_pingpong.py``, another process, echoes each from its callback as a
  ``std_msgs/Float64MultiArray`` (as commands), with the policy node's QoS (best-effort state
  subscription, reliable command publisher). Round trip p50 / p99.
- **policy node**, per rate: ``sim2real_ros.policy_node`` runs an ArmReach bundle (SAC, 256x256,
  acting on every tick) on a UR5e variant at that rate with the forward position controller.
  This process is the driver: it publishes joint states at ~2x the rate from a steady timer
  (positions: the last command received, so the arm moves) and records every command's arrival.
  After ``--seconds`` of commands the node is stopped (SIGTERM) and writes its tick times; the
  first 0.5 s are dropped. From the node's times: achieved rate, jitter (period - nominal), tick
  latency (state arrival to command published), compute (tick start to published). From the
  driver's: commands received / ticks, command inter-arrival jitter (a cross-check of the node's
  own numbers), and end to end (state published to command received, the ping-pong's analogue).

Every process uses ``ROS_DOMAIN_ID`` ``--domain-id`` on localhost only. The machine is noisy,
so compare the node's numbers with the floor of the same run, not across runs. Writes
``report.yaml``, ``tick_latency.png``, the node's tick files and logs under ``--out``.

Usage: ``python bench/bench_ros.py [--seconds 10] [--rates 100 500] [--out runs/bench_ros]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if TYPE_CHECKING:
    from ros_pingpong import Driver

GOAL = [0.45, 0.1, 0.45]  # m, in the arm's base frame: any reachable target
# Joint states at about twice the control rate, as from a driver faster than the policy, detuned by
# 1% so that the phase between the driver's timer and the node's sweeps through every value (about
# every 50 ticks), as between two real clocks. In tune, the two steady timers would hold whatever
# phase the start gave, and the state's age at each tick (most of the tick latency at 100 Hz)
# would be a constant drawn at random per run.
STATE_RATE_FACTOR = 2.02
WARMUP_S = 0.5  # dropped from the start of every measurement
PINGPONG_RATE_HZ = 500.0
PINGPONG_COUNT = 3000
START_TIMEOUT_S = 60.0  # from starting the policy node to its first command (imports, bundle, discovery)


# --- bundles --------------------------------------------------------------------------------------


def make_bundle(rate_hz: float, folder: Path) -> tuple[Path, Path]:
    """A UR5e variant at ``rate_hz`` (forward position controller) and an ArmReach bundle trained
    on it for a token budget: only the network's cost matters here. Runs in a worker process.

    :returns: the robot YAML and the bundle folder.
    """
    from hardware.spec import RobotSpec
    from policies.bundle import load_bundle
    from policies.config import config_from_dict
    from policies.export import export_bundle
    from policies.train import train

    folder.mkdir(parents=True, exist_ok=True)
    robot = yaml.safe_load((ROOT / "robots" / "ur5e.yaml").read_text())
    robot["urdf"] = str(ROOT / "robots" / "ur5e.urdf")
    robot["control_rate_hz"] = float(rate_hz)
    robot["safety"]["watchdog_timeout_s"] = 5.0 / rate_hz  # a few periods: holds only if the driver stalls
    robot["ros"] = {
        "joint_states": "/joint_states",
        "controller": "forward_position_controller",
        "command_type": "forward",
    }
    robot_yaml = folder / "ur5e.yaml"
    robot_yaml.write_text(yaml.safe_dump(robot, sort_keys=False))
    config = {
        "algorithm": "SAC",
        # One control period per action: the network runs on every tick (the worst case).
        "env": {
            "task": "ArmReach",
            "kwargs": {"robot": str(robot_yaml), "control_steps_per_action": 1},
            "normalize": {"norm_obs": True, "norm_reward": False},
        },
        "hyperparams": {"learning_starts": 100, "policy_kwargs": {"net_arch": [256, 256]}},
        "budget": {"total_timesteps": 150},
        "eval": {"freq": 0},
    }
    train(config_from_dict(config), folder / "run", progress_bar=False, final_evaluation=False, torch_threads=1)
    bundle = export_bundle(folder / "run", folder / "bundle")
    load_bundle(bundle, RobotSpec.from_yaml(robot_yaml))  # what the node does on configure: fail here first
    return robot_yaml, bundle


# --- processes ------------------------------------------------------------------------------------


class Children:
    """The processes this benchmark starts; :meth:`stop_all` ends every one still running."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``command`` in the repository root, its output going to ``logs/name.log``."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as file:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=file, stderr=subprocess.STDOUT)
        self.running.append(process)
        return process, log

    def stop(self, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> int:
        """SIGTERM (which our nodes handle as Ctrl-C, and which works where SIGINT is ignored, as
        in a background job), then SIGKILL after ``timeout_s``; returns the exit code."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self.running:
            self.running.remove(process)
        return int(process.returncode)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process, timeout_s=3.0)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system, s) used so far by process ``pid`` (Linux), or by this process."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def percentiles_ms(values_ns: np.ndarray) -> dict[str, float]:
    values = np.asarray(values_ns, dtype=np.float64) * 1e-6
    if not values.size:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


# --- the policy node ------------------------------------------------------------------------------


def node_run(
    driver: Driver, children: Children, rate_hz: float, robot_yaml: Path, bundle: Path, seconds: float, out: Path
) -> dict[str, Any]:
    """Drive the policy node at ``rate_hz`` for ``seconds`` of commands; returns its analysis."""
    from diagnostic_msgs.msg import DiagnosticArray
    from ros_pingpong import received_qos, steady_clock
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from hardware.spec import RobotSpec
    from sim2real_ros import qos
    from sim2real_ros.conversions import joint_state_msg
    from sim2real_ros.diagnostics import status_values
    from sim2real_ros.ros2_robot import topic

    spec = RobotSpec.from_yaml(robot_yaml)
    label = f"{rate_hz:g}hz"
    stats_file = out / f"ticks_{label}.npz"
    stats_file.unlink(missing_ok=True)
    position, zeros = np.array(spec.home_position, dtype=np.float64), np.zeros(spec.dof)
    states_ns: list[int] = []
    commands_ns: list[int] = []
    diagnostics: dict[str, str] = {}

    def on_command(msg: Float64MultiArray) -> None:
        commands_ns.append(time.monotonic_ns())
        position[:] = msg.data

    def on_diagnostics(msg: DiagnosticArray) -> None:
        if msg.status and msg.status[0].name.endswith("policy_node"):
            diagnostics.update(status_values(msg))

    def publish_state() -> None:
        msg = joint_state_msg(spec.joint_names, position, zeros, zeros, time.monotonic_ns())
        states_ns.append(time.monotonic_ns())
        publisher.publish(msg)

    node = driver.node
    publisher = node.create_publisher(JointState, topic(spec.ros.joint_states), qos.STATE_PUBLISHER)
    entities = [
        node.create_subscription(Float64MultiArray, topic(spec.ros.arm_command_topic), on_command, received_qos()),
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, qos.STATUS),
    ]
    timer = node.create_timer(1.0 / (STATE_RATE_FACTOR * rate_hz), publish_state, clock=steady_clock())
    params = {
        "bundle": bundle,
        "robot": robot_yaml,
        "autostart": "true",
        "rate": float(rate_hz),
        "stats_file": stats_file,
        "goal": f"[{', '.join(map(str, GOAL))}]",
    }
    command = [sys.executable, "-m", "sim2real_ros.policy_node", "--ros-args"]
    for name, value in params.items():
        command += ["-p", f"{name}:={value}"]
    policy, log = children.start(f"policy_node_{label}", command)
    try:
        started = time.monotonic()
        if not driver.spin_until(lambda: bool(commands_ns) or policy.poll() is not None, START_TIMEOUT_S):
            raise RuntimeError(f"{rate_hz:g} Hz: no command from the policy node in {START_TIMEOUT_S:.0f} s; see {log}")
        if policy.poll() is not None:
            raise RuntimeError(f"{rate_hz:g} Hz: the policy node exited with status {policy.returncode}; see {log}")
        print(f"  {rate_hz:g} Hz: first command {time.monotonic() - started:.1f} s after start; "
              f"driving for {seconds:g} s", flush=True)  # fmt: skip
        cpu_start = (time.monotonic(), cpu_seconds(policy.pid), cpu_seconds())
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            driver.spin_until(lambda: policy.poll() is not None, min(2.0, remaining))
            if policy.poll() is not None:
                raise RuntimeError(f"{rate_hz:g} Hz: the policy node exited with status {policy.returncode}; see {log}")
            print(f"    {seconds - max(end - time.monotonic(), 0.0):4.1f} s: {len(commands_ns)} commands", flush=True)
        elapsed = time.monotonic() - cpu_start[0]
        cpu = {"node": cpu_seconds(policy.pid) - cpu_start[1], "driver": cpu_seconds() - cpu_start[2]}
        # Keep publishing states while the node stops: it must not see its driver go silent.
        policy.send_signal(signal.SIGTERM)
        driver.spin_until(lambda: policy.poll() is not None, 10.0)
    finally:
        node.destroy_timer(timer)
        children.stop(policy)
        for entity in entities:
            node.destroy_subscription(entity)
        node.destroy_publisher(publisher)
    if not stats_file.is_file():
        raise RuntimeError(f"{rate_hz:g} Hz: the policy node wrote no {stats_file}; see {log}")
    result = analyse(stats_file, np.asarray(states_ns, np.int64), np.asarray(commands_ns, np.int64))
    result |= {f"{name}_cpu_percent": 100.0 * used / elapsed for name, used in cpu.items()}
    result["held_ticks"] = int(diagnostics["held_ticks"]) if "held_ticks" in diagnostics else None
    result["log"] = str(log)
    return result


def analyse(stats_file: Path, states_ns: np.ndarray, commands_ns: np.ndarray) -> dict[str, Any]:
    """The node's tick times (after ``WARMUP_S``) and the driver's timestamps, combined.

    Both processes stamp with ``time.monotonic_ns`` (one clock per machine). Commands are
    reliable and in order, so when none is missing the k-th command received is the k-th tick's
    (one more is the hold sent on exit); otherwise each is matched to the tick published nearest
    to it. A tick's state is the latest state published before it arrived.
    """
    from sim2real_ros.loop_stats import LoopStats

    data = np.load(stats_file)
    nominal_s = float(data["nominal_period_s"])
    start, arrival, published = data["start_ns"], data["arrival_ns"], data["published_ns"]
    keep = start >= start[0] + WARMUP_S * 1e9
    stats = LoopStats(nominal_s, capacity=int(keep.sum()))
    for times in zip(start[keep], arrival[keep], published[keep], strict=True):
        stats.record(*(int(t) for t in times))
    result: dict[str, Any] = {"ticks": int(start.size), "ticks_measured": int(keep.sum()), **stats.summary()}
    result["state_age_at_tick_p50_ms"] = float(np.percentile(start[keep] - arrival[keep], 50) * 1e-6)

    if commands_ns.size >= start.size:
        tick_of, result["matched"] = np.arange(start.size), "in order"
        command_arrival = commands_ns[: start.size]
    else:
        half_period = round(nominal_s * 5e8)
        tick_of = np.clip(np.searchsorted(published - half_period, commands_ns, side="right") - 1, 0, None)
        tick_of, first = np.unique(tick_of, return_index=True)
        command_arrival, result["matched"] = commands_ns[first], "nearest"
    result["commands_received"] = int(commands_ns.size)
    result["lost"] = int(start.size - tick_of.size)
    measured = keep[tick_of]
    tick_of, command_arrival = tick_of[measured], command_arrival[measured]
    inter_arrival_ms = (np.diff(command_arrival) * 1e-9 - nominal_s) * 1e3
    result["driver_jitter_std_ms"] = float(inter_arrival_ms.std())
    result["driver_jitter_max_ms"] = float(np.abs(inter_arrival_ms).max())

    # State published by the driver -> command received by the driver, and its parts. The node
    # stamps `published` after publish() returns, so the command's transport can read negative.
    state_sent = states_ns[np.maximum(np.searchsorted(states_ns, arrival, side="right") - 1, 0)]
    result["state_transport"] = percentiles_ms(arrival[keep] - state_sent[keep])
    result["command_transport"] = percentiles_ms(command_arrival - published[tick_of])
    result["end_to_end"] = percentiles_ms(command_arrival - state_sent[tick_of])
    result["_latency_ns"] = (published - arrival)[keep]
    return result


# --- report ---------------------------------------------------------------------------------------


def print_table(floor: dict[str, Any], runs: dict[float, dict[str, Any]]) -> None:
    rtt = floor["p50_ms"]
    print(
        f"  {'':15s} {'rate Hz':>8s} {'jitter std/max':>15s} {'latency p50/p99':>16s} {'compute p50/p99':>16s} "
        f"{'end-to-end p50/p99':>19s} {'cmds/ticks':>12s} {'driver jitter':>14s} {'lat/RTT':>8s}"
    )
    print(
        f"  {'ping-pong RTT':15s} {PINGPONG_RATE_HZ:8.0f} {'':>15s} {'':>16s} {'':>16s} "
        f"{floor['p50_ms']:9.3f}/{floor['p99_ms']:<9.3f} {floor['round_trips']:>5d} trips {'':>14s} {1.0:8.2f}"
    )
    for rate_hz, r in runs.items():
        e2e = r["end_to_end"]
        print(
            f"  {f'{rate_hz:g} Hz node':15s} {r['rate_hz']:8.2f} {r['jitter_std_ms']:7.3f}/{r['jitter_max_ms']:<7.3f} "
            f"{r['tick_latency_p50_ms']:7.3f}/{r['tick_latency_p99_ms']:<8.3f} "
            f"{r['compute_p50_ms']:7.3f}/{r['compute_p99_ms']:<8.3f} {e2e['p50_ms']:9.3f}/{e2e['p99_ms']:<9.3f} "
            f"{r['ticks'] - r['lost']:>5d}/{r['ticks']:<6d} "
            f"{r['driver_jitter_std_ms']:6.3f}/{r['driver_jitter_max_ms']:<7.3f} {r['tick_latency_p50_ms'] / rtt:8.2f}"
        )
    print("  (ms; jitter = period - nominal; latency = state arrival to command published; end-to-end = state "
          "published to command received; lat/RTT = latency p50 / ping-pong RTT p50)")  # fmt: skip
    for rate_hz, r in runs.items():
        print(
            f"  {rate_hz:g} Hz: latency p50 = state age at tick start {r['state_age_at_tick_p50_ms']:.3f} ms + "
            f"compute {r['compute_p50_ms']:.3f} ms; CPU: node {r['node_cpu_percent']:.0f}%, driver "
            f"{r['driver_cpu_percent']:.0f}% of a core; watchdog holds {r['held_ticks']}; {r['lost']} commands lost"
        )


def plot(floor: dict[str, Any], runs: dict[float, dict[str, Any]], file: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"ping-pong RTT": floor["_ns"]} | {f"{r:g} Hz tick latency": v["_latency_ns"] for r, v in runs.items()}
    top = max(float(np.percentile(v * 1e-6, 99.9)) for v in series.values() if v.size)
    bins = np.linspace(0.0, top * 1.05, 120)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name, values in series.items():
        axes.hist(values * 1e-6, bins=bins, histtype="step", linewidth=1.5, label=f"{name} (n={values.size})")
    axes.set(xlabel="ms", ylabel="count", yscale="log", title="policy node tick latency vs rclpy ping-pong")
    axes.legend()
    figure.tight_layout()
    figure.savefig(file, dpi=120)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of commands per rate (default 10)")
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 500.0], help="control rates, Hz")
    parser.add_argument("--domain-id", type=int, default=150, help="ROS_DOMAIN_ID of every process (default 150)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_ros"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` cleans up like Ctrl-C
    from policies.metrics import yaml_ready

    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ROS_DOMAIN_ID": str(args.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    os.environ.update(env)  # this process's rclpy reads them too
    load = os.getloadavg()[0]
    print(f"== ROS 2 policy node benchmark: rates {args.rates} Hz, {args.seconds:g} s each, domain "
          f"{args.domain_id}, load average {load:.2f} on {os.cpu_count()} cores -> {out}", flush=True)  # fmt: skip
    started = time.perf_counter()
    children = Children(env, out / "logs")
    with tempfile.TemporaryDirectory(prefix="bench_ros_") as scratch:
        print(f"  training {len(args.rates)} token bundles (ArmReach, SAC 256x256, acting every tick) ...", flush=True)
        with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
            futures = {rate: pool.submit(make_bundle, rate, Path(scratch) / f"{rate:g}hz") for rate in args.rates}
            bundles = {rate: future.result() for rate, future in futures.items()}
        from ros_pingpong import Driver, pingpong  # rclpy, after the ROS environment is set

        driver = Driver(args.domain_id)
        try:
            echo = [sys.executable, str(Path(__file__).resolve().parent / "ros_pingpong.py")]
            floor = pingpong(
                driver, lambda: children.start("echo", echo), children.stop, PINGPONG_COUNT, PINGPONG_RATE_HZ, WARMUP_S
            )
            print(f"  ping-pong RTT p50 {floor['p50_ms']:.3f} ms, p99 {floor['p99_ms']:.3f} ms, "
                  f"{floor['lost']} lost", flush=True)  # fmt: skip
            runs = {}
            for rate in args.rates:
                runs[rate] = node_run(driver, children, rate, *bundles[rate], args.seconds, out)
        finally:
            children.stop_all()
            driver.close()
    print(f"== results ({time.perf_counter() - started:.0f} s)")
    print_table(floor, runs)
    plot(floor, runs, out / "tick_latency.png")
    report = {
        "pingpong": {k: v for k, v in floor.items() if not k.startswith("_")} | {"rate_hz": PINGPONG_RATE_HZ},
        "policy_node": {
            f"{rate:g}hz": {k: v for k, v in r.items() if not k.startswith("_")}
            | {"latency_over_rtt": r["tick_latency_p50_ms"] / floor["p50_ms"]}
            for rate, r in runs.items()
        },
        "seconds": args.seconds,
        "cores": os.cpu_count(),
        "load_average_1min": {"start": load, "end": os.getloadavg()[0]},
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    (out / "report.yaml").write_text(yaml.safe_dump(yaml_ready(report), sort_keys=False))
    print(f"== report: {out / 'report.yaml'}, histograms: {out / 'tick_latency.png'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the children are stopped by then
        print("== interrupted", file=sys.stderr)
        sys.exit(130)
