"""``sim2real demo``: the foundation at work, with pictures.

1. Every shipped robot, and the Franka Panda from ``pybullet_data`` (a URDF we did not write,
   with ``package://`` meshes), is read through the robot contract, loaded into MuJoCo and
   PyBullet, checked for kinematic agreement and rendered.
2. The safety layer drives the simulated UR5e under a hostile command stream
   (``sim2real.demo_safety``): a plot and a GIF of what it let through.
3. The Gymnasium environments: a scripted end-effector controller solves ArmReach in MuJoCo
   and, unchanged, in PyBullet; a random policy explores a maze under domain randomization.
   Videos of each (``sim2real rollout``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from hardware import RobotSpec


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


def run(args: argparse.Namespace) -> int:
    """Run both parts of the demo and print where the pictures are."""
    from robots import available, randomization_yaml, robot_yaml
    from sim.parity import kinematic_parity
    from sim2real import rollout_cmd
    from sim2real.demo_safety import run_demo
    from sim2real.robot_cmd import render_robot

    out: Path = args.out
    start = time.monotonic()
    print(f"[1/3] robot descriptions in MuJoCo and PyBullet -> {out}/")
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

    print("[2/3] the safety layer driving the simulated UR5e (NaN burst, stale state, e-stop)")
    for line in run_demo(RobotSpec.from_yaml(robot_yaml("ur5e")), out):
        print(line)

    print("[3/3] Gymnasium environments on both simulators (sim2real rollout)")
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
    print(f"done in {time.monotonic() - start:.0f} s")
    return 0
