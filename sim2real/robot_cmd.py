"""``sim2real robot``: check a robot description and show it.

Reads the robot YAML and its URDF (a shipped robot by name, or any user's files), prints the
contract, loads the URDF into MuJoCo and PyBullet, reports how far their kinematics disagree,
and with ``--out`` renders a picture of the robot.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from hardware import RobotSpec


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real robot`` and its arguments."""
    parser = subparsers.add_parser(
        "robot",
        help="check a robot description (URDF + YAML) in both simulators",
        description="Load a robot YAML and its URDF, print the contract, compare MuJoCo and PyBullet "
        "kinematics, and optionally render a picture.",
    )
    parser.add_argument("robot", help="a shipped robot's name (ur5e, burger) or the path of a robot YAML")
    parser.add_argument("--out", type=Path, help="folder to write <name>.png into")
    parser.add_argument("--configurations", type=int, default=100, help="random poses for the kinematics check")
    return parser


def describe(spec: RobotSpec) -> list[str]:
    """The contract as lines of text: interface, rate, joints and their limits, topics."""
    lines = [
        f"{spec.name}: {spec.kind}, {spec.command_interface} commands at {spec.control_rate_hz:g} Hz, "
        f"urdf {spec.urdf_path.name}",
        f"  {'joint':<22}{'lower':>9}{'upper':>9}{'vel':>8}{'acc':>8}{'effort':>8}",
    ]
    for joint in spec.joints:
        lines.append(
            f"  {joint.name:<22}{_fmt(joint.lower):>9}{_fmt(joint.upper):>9}{_fmt(joint.max_velocity):>8}"
            f"{_fmt(joint.max_acceleration):>8}{_fmt(joint.max_effort):>8}"
        )
    if spec.base is not None:
        base = spec.base
        lines.append(
            f"  base: wheels r={base.wheel_radius_m} m, separation {base.wheel_separation_m} m, "
            f"|v| <= {base.max_linear_mps} m/s, |w| <= {base.max_angular_radps} rad/s"
        )
        lines.append(f"  ros: {spec.ros.cmd_vel} ({'TwistStamped' if spec.ros.cmd_vel_stamped else 'Twist'}), "
                     f"{spec.ros.odom}, {spec.ros.scan}")  # fmt: skip
    else:
        lines.append(f"  end effector: {spec.end_effector_link}; ros: {spec.ros.joint_states} -> "
                     f"{spec.ros.arm_command_topic}")  # fmt: skip
    lines.append(f"  safety: watchdog {spec.safety.watchdog_timeout_s} s, low-pass "
                 f"{spec.safety.low_pass_cutoff_hz or 'off'}")  # fmt: skip
    return lines


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) and value > 0 else "-inf" if math.isinf(value) else f"{value:.3g}"


def run(args: argparse.Namespace) -> int:
    """Check the robot, print what was found, and render it if asked."""
    from robots import robot_yaml
    from sim.parity import kinematic_parity
    from sim2real.errors import UsageError

    try:
        path = robot_yaml(args.robot)
    except FileNotFoundError as err:
        raise UsageError(f"{err}; pass a shipped robot's name or a robot YAML path") from err
    spec = RobotSpec.from_yaml(path)
    print("\n".join(describe(spec)))
    parity = kinematic_parity(spec, configurations=args.configurations)
    print(
        f"  MuJoCo vs PyBullet: {parity.links} links at {parity.configurations} poses agree to "
        f"{parity.position_error_m:.1e} m, {parity.angle_error_rad:.1e} rad"
    )
    if args.out is not None:
        print(f"  picture: {render_robot(spec, args.out / f'{spec.name}.png')}")
    return 0


def render_robot(spec: RobotSpec, path: Path) -> Path:
    """Render the robot at rest from the overview camera into ``path`` (PNG)."""
    import mujoco

    from sim.mujoco_model import build_mujoco_model
    from sim.render import FrameRenderer, save_png

    model = build_mujoco_model(spec)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with FrameRenderer(model) as renderer:
        return save_png(renderer.render(data), path)
