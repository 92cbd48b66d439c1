"""``sim2real demo``: the foundation at work, with pictures.

1. Every shipped robot, and the Franka Panda from ``pybullet_data`` (a URDF we did not write,
   with ``package://`` meshes), is read through the robot contract, loaded into MuJoCo and
   PyBullet, checked for kinematic agreement and rendered.
2. The safety layer drives the simulated UR5e under a hostile command stream
   (``sim2real.demo_safety``): a plot and a GIF of what it let through.
3. The Gymnasium environments: a scripted end-effector controller solves ArmReach in MuJoCo
   and, unchanged, in PyBullet; a random policy explores a maze under domain randomization.
   Videos of each (``sim2real rollout``).
4. A policy, end to end: SAC with gSDE learns ArmReach in MuJoCo (``sim2real train``), is
   exported to an ONNX bundle (``sim2real export``) and runs in PyBullet through the deployment
   loop (``sim2real run``): learning curve, evaluation video, and the sim-to-sim success rate.
5. The same bundle on ROS 2 (``sim2real launch sim_arm``): the policy node drives the simulated
   UR5e's driver topics to three targets sent on the goal topic (``sim2real.demo_ros``).
6. Episodes: part 4's PyBullet run, recorded to a rosbag2 MCAP bag, is replayed open loop in
   MuJoCo (the drift between the simulators), evaluated offline and exported as a dataset; the
   shared TurtleBot3 log, if present, drives our burger in MuJoCo (``sim2real.demo_episodes``).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import yaml

from hardware import RobotSpec

#: Environment steps of the demo's training (gSDE reaches ArmReach's goals in about 6,000).
DEMO_TRAIN_STEPS = 8000


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real demo`` and its arguments."""
    parser = subparsers.add_parser(
        "demo",
        help="robots in both simulators and the safety layer at work, as pictures",
        description="Load every robot into MuJoCo and PyBullet, render them, and drive the UR5e "
        "through the safety layer under injected faults. Writes PNG and GIF files to --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for the pictures")
    return parser


def panda_yaml(out: Path) -> Path | None:
    """A user's robot YAML for the Panda shipped in ``pybullet_data``; ``None`` if not installed."""
    try:
        import pybullet_data
    except ImportError:
        return None
    urdf = Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
    path = out / "panda.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    robot = {
        "name": "panda",
        "urdf": str(urdf),
        "kind": "arm",
        "command_interface": "position",
        "control_rate_hz": 100.0,
        "joints": [f"panda_joint{i}" for i in range(1, 8)],
        "end_effector_link": "panda_grasptarget",
        "limits": {"acceleration": 10.0},
        # Franka's URDF has no gains; stiff enough to hold its own weight.
        "sim": {"kp": 2000.0, "kv": 200.0, "armature": 0.1},
    }
    path.write_text(yaml.safe_dump(robot, sort_keys=False))
    return path


def train_export_run(run_dir: Path) -> tuple[Path, list[str]]:
    """Part 4: a short gSDE training in MuJoCo, the bundle, and that bundle in PyBullet (recorded
    to ``run_dir/pybullet_episodes``, a rosbag2 bag)."""
    from policies.config import load_config
    from policies.deploy import run_bundle
    from policies.export import export_bundle
    from policies.train import train
    from sim2real.train_cmd import summary_lines

    overrides = {"budget.total_timesteps": DEMO_TRAIN_STEPS, "eval.freq": 1000, "eval.episodes": 10}
    config = load_config("arm_reach_sac_gsde", {**overrides, "checkpoint.freq": 0})
    result = train(config, run_dir, progress_bar=False, progress_lines=2000)
    bundle = export_bundle(run_dir)
    bag = run_dir / "pybullet_episodes"
    if bag.exists():  # a demo run before this one: the recorder never overwrites a bag
        shutil.rmtree(bag)
    transfer = run_bundle(
        bundle, backend="pybullet", episodes=10, seed=1000, video=run_dir / "pybullet.mp4", record=bag
    )
    return bundle, [
        summary_lines(result.metrics),
        f"  bundle: {bundle} (ONNX; reproduces SB3's actions to 1e-5)",
        f"  the bundle in PyBullet (trained in MuJoCo): success {100 * transfer['success_rate']:.0f}% over "
        f"{transfer['episodes']} episodes, video {run_dir / 'pybullet.mp4'}, recorded to {bag}",
    ]


def run(args: argparse.Namespace) -> int:
    """Run the six parts of the demo and print where the pictures are."""
    from robots import available, randomization_yaml, robot_yaml
    from sim.parity import kinematic_parity
    from sim2real import rollout_cmd
    from sim2real.demo_episodes import run_episodes_demo
    from sim2real.demo_ros import run_ros_demo
    from sim2real.demo_safety import run_demo
    from sim2real.robot_cmd import render_robot

    out: Path = args.out
    start = time.monotonic()
    print(f"[1/6] robot descriptions in MuJoCo and PyBullet -> {out}/")
    paths = [robot_yaml(name) for name in available()]
    panda = panda_yaml(out)
    if panda is not None:
        paths.append(panda)
    for path in paths:
        spec = RobotSpec.from_yaml(path)
        parity = kinematic_parity(spec)
        picture = render_robot(spec, out / f"{spec.name}.png")
        print(
            f"  {spec.name:<7} {spec.dof} joints, {spec.command_interface:<8} at {spec.control_rate_hz:g} Hz; "
            f"FK agrees to {parity.position_error_m:.1e} m / {parity.angle_error_rad:.1e} rad; {picture}"
        )

    print("[2/6] the safety layer driving the simulated UR5e (NaN burst, stale state, e-stop)")
    for line in run_demo(RobotSpec.from_yaml(robot_yaml("ur5e")), out):
        print(line)

    print("[3/6] Gymnasium environments on both simulators (sim2real rollout)")
    rollouts = [
        ["ArmReach", "--policy", "scripted", "--backend", "mujoco", "--out", str(out / "arm_reach_mujoco")],
        ["ArmReach", "--policy", "scripted", "--backend", "pybullet", "--out", str(out / "arm_reach_pybullet")],
        ["BaseExplore", "--episodes", "1", "--randomization", str(randomization_yaml("burger")),
         "--out", str(out / "base_explore")],
    ]  # fmt: skip
    parser = argparse.ArgumentParser()
    rollout_cmd.add_parser(parser.add_subparsers())
    for argv in rollouts:
        rollout_cmd.run(parser.parse_args(["rollout", *argv]))

    print(f"[4/6] train ArmReach with SAC + gSDE ({DEMO_TRAIN_STEPS} steps), export, run the bundle in PyBullet")
    bundle, lines = train_export_run(out / "arm_reach_policy")
    for line in lines:
        print(line)

    print("[5/6] the bundle on ROS 2: sim2real launch sim_arm (sim_node + policy_node), goals over the goal topic")
    for line in run_ros_demo(bundle, out / "ros_sim_arm"):
        print(line)

    print("[6/6] episodes: the PyBullet run's bag read back, replayed in MuJoCo, evaluated offline, exported")
    for line in run_episodes_demo(out / "arm_reach_policy" / "pybullet_episodes", bundle, out / "episodes"):
        print(line)
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0
