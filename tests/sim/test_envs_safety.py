"""A hostile random policy on the arm environment: 10,000 steps with NaN, inf and out-of-range
actions mixed in, joint positions read from the simulator itself after every step.

- ``ee_delta`` (the default action): IK keeps the end effector in its workspace box; no joint
  ever reaches, let alone passes, a limit.
- ``joint_delta``: a drifting random walk that drives every joint onto its limits. The arm is the
  UR5e of a cell whose robot YAML tightens the shoulder and elbow limits so that the arm cannot
  reach the floor it stands on (how a deployment keeps an arm off its table: the safety layer
  enforces the spec's limits). The safety layer's commands never leave the limits; the
  simulated joints stay within ``SERVO_COMPLIANCE_RAD`` of them: a joint held at its limit by a
  position servo (kp 100 N·m/rad at the wrist) yields a little to the reaction torques of the
  other joints' accelerations.

Without the tightened limits the random walk throws the arm against the floor, and contact can
push a joint past its URDF limit (MuJoCo's joint-limit constraint is soft; PyBullet's wrist is
dragged by floor friction beyond its motor's torque): no layer between a policy and the motors
can prevent that, so it is not what these tests measure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import sim.envs  # noqa: F401  (registers sim2real/*)
from hardware import RobotSpec
from tests.sim.helpers import ur5e_variant

#: How far a joint held at its limit may yield, rad. Measured over these runs (fixed seeds,
#: exactly reproducible): 0.0027 in MuJoCo (10,000 steps), 0.0018 in PyBullet (600 steps).
SERVO_COMPLIANCE_RAD = 0.005
#: Shoulder and elbow limits that keep the UR5e's wrist off the floor, rad.
CELL_LIMITS = {"shoulder_lift_joint": [-2.0, -1.1], "elbow_joint": [0.5, 1.6]}


def hostile_actions(size: int, steps: int, seed: int) -> Iterator[tuple[np.ndarray, bool]]:
    """Random actions that drift (a random direction held for 40 steps, plus noise), with 5 %
    NaN, 2 % ±inf and 8 % scaled far out of [-1, 1]. Yields (action, non-finite?)."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(size)
    for step in range(steps):
        if step % 40 == 0:
            drift = rng.choice([-1.0, 1.0], size)
        action = drift + rng.normal(0.0, 0.3, size)
        draw = rng.random()
        if draw < 0.05:
            action[rng.integers(size)] = np.nan
        elif draw < 0.07:
            action[rng.integers(size)] = rng.choice([np.inf, -np.inf])
        elif draw < 0.15:
            action = action * rng.uniform(2.0, 1e6)
        yield action, draw < 0.07


def drive(env: gym.Env[Any, Any], steps: int, seed: int) -> dict[str, Any]:
    """Run the hostile policy; joint positions, commands and flags of every step."""
    unwrapped = env.unwrapped
    env.reset(seed=seed)
    positions, commands, flagged, nonfinite = [], [], [], []
    for action, bad in hostile_actions(env.action_space.shape[0], steps, seed):
        _, _, terminated, truncated, info = env.step(action)
        positions.append(unwrapped.sim.read().position)  # the raw simulator (nominal: no noise)
        commands.append(unwrapped.last_command.values)
        flagged.append(info["command_nonfinite"])
        nonfinite.append(bad)
        assert not terminated
    return {
        "q": np.array(positions),
        "command": np.array(commands),
        "flagged": np.array(flagged),
        "nonfinite": np.array(nonfinite),
    }


def excursion(values: np.ndarray, spec: Any) -> np.ndarray:
    """How far each value is past its joint's limits (negative: inside), rad."""
    return np.maximum(values - spec.position_upper, spec.position_lower - values)


def test_ee_delta_random_policy_keeps_every_joint_within_its_limits() -> None:
    env = gym.make("sim2real/ArmReach-v0", backend="mujoco", max_episode_steps=None)
    try:
        run = drive(env, 10_000, seed=0)
        spec = env.unwrapped.robot_spec
        assert np.all(np.isfinite(run["q"]))
        assert excursion(run["q"], spec).max() <= 0.0
        assert excursion(run["command"], spec).max() <= 0.0
        np.testing.assert_array_equal(run["flagged"], run["nonfinite"])
        assert run["nonfinite"].sum() > 500
    finally:
        env.close()


@pytest.fixture
def cell_ur5e(tmp_path: Path) -> RobotSpec:
    return ur5e_variant(tmp_path, limits={"acceleration": 8.0, "position": CELL_LIMITS})


@pytest.mark.parametrize(("backend", "steps"), [("mujoco", 10_000), ("pybullet", 600)])
def test_joint_delta_random_policy_drives_joints_into_limits_not_past_them(
    backend: str, steps: int, cell_ur5e: RobotSpec
) -> None:
    env = gym.make(
        "sim2real/ArmReach-v0", robot=cell_ur5e, backend=backend, action_type="joint_delta", max_episode_steps=None
    )
    try:
        run = drive(env, steps, seed=1)
        assert np.all(np.isfinite(run["q"]))
        # Every joint was driven onto a limit, and every command sent stayed within the limits.
        assert np.all(excursion(run["command"], cell_ur5e).max(axis=0) == 0.0)
        assert np.all(excursion(run["q"], cell_ur5e).max(axis=0) > -1e-3)
        assert excursion(run["q"], cell_ur5e).max() <= SERVO_COMPLIANCE_RAD
        np.testing.assert_array_equal(run["flagged"], run["nonfinite"])
    finally:
        env.close()
