"""``sim2real export RUN``: turn a training run into a deployable policy bundle.

Writes ``policy.onnx``, ``bundle.yaml`` and ``parity.npz`` (see :mod:`policies.bundle`) to
``RUN/bundle`` or ``--out``, then loads the bundle back against the robot it was trained on, as a
robot would, and prints the parity check: how far the ONNX network's actions are from the
training framework's on the parity observations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim2real.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real export`` and its arguments."""
    parser = subparsers.add_parser(
        "export",
        help="export a training run to a deployable policy bundle (ONNX + contract)",
        description="Export the policy of a training run (the folder `sim2real train` wrote) to a bundle: "
        "policy.onnx (observation normalization folded in), bundle.yaml (robot and task contract) and "
        "parity.npz; then load it back and check the network against the training framework's actions.",
    )
    parser.add_argument("run", type=Path, help="the training run folder (config.yaml, model.zip)")
    parser.add_argument("--out", type=Path, help="bundle folder (default: RUN/bundle)")
    parser.add_argument("--parity", type=int, default=64, metavar="N", help="parity observations (default 64)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Export, load back, print the bundle's path and the parity result."""
    from policies.bundle import BundleError, load_bundle
    from policies.config import ConfigError
    from policies.deploy import robot_spec
    from policies.export import export_bundle

    if args.parity < 1:
        raise UsageError(f"--parity is {args.parity}; check at least 1 observation")
    try:
        path = export_bundle(args.run, args.out, parity_count=args.parity)
        bundle = load_bundle(path, robot_spec(None, path))
    except (BundleError, ConfigError, FileNotFoundError) as error:
        raise UsageError(str(error)) from error
    parity = bundle.metadata["parity"]
    print(f"bundle: {path}")
    print(
        f"  {bundle.algorithm} policy for {bundle.task_name} on {bundle.spec.name}, "
        f"acting at {bundle.policy_rate_hz:g} Hz"
    )
    print(
        f"  parity: ok, {parity['count']} observations, largest |ONNX - {bundle.algorithm}| "
        f"{bundle.parity_max_error:.2g} <= {parity['atol']:g}"
    )
    return 0
