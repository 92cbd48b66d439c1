"""Sim-to-sim parity: the same commands, through the same safety layer, move the robot the same
way in MuJoCo (``MujocoRobot``) and PyBullet (``PybulletRobot``).

Acceptance bounds: an arm's end-effector paths within 1 cm of each other over a few seconds of
varied joint-position targets across the workspace; a base's odometry within 5 cm over 10 s of
varied twists. (Measured: under 1e-7 m for the arm, whose joint servo PyBullet integrates the
way MuJoCo does; about 1 cm for the base, whose wheels meet the floor through two contact models.)
"""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from hardware import Command, RobotSpec
from hardware.safety import SafeRobot
from sim.dynamics import DynamicsParams
from sim.mujoco_robot import MujocoRobot
from sim.mujoco_urdf import link_pose
from sim.pybullet_robot import PybulletRobot
from tests.sim.helpers import ROBOTS_DIR, ur5e_variant

UR5E = RobotSpec.from_yaml(ROBOTS_DIR / "ur5e.yaml")
BURGER = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")

ARM_BOUND_M = 0.01
BASE_BOUND_M = 0.05

# Each joint swings on its own sine; amplitudes and frequencies chosen so the tool sweeps about
# 0.5 x 1.5 x 1 m, and fast enough that the safety layer's velocity and acceleration limits act.
_AMPLITUDE = np.array([1.5, 0.7, 1.0, 1.0, 1.2, 1.5])
_FREQUENCY_HZ = np.array([0.17, 0.23, 0.29, 0.31, 0.37, 0.41])
_PHASE = np.random.default_rng(1).uniform(0.0, 2 * math.pi, 6)


def _arm_target(spec: RobotSpec, t_s: float) -> np.ndarray:
    swing = np.sin(2 * math.pi * _FREQUENCY_HZ * t_s + _PHASE) - np.sin(_PHASE)  # 0 at t = 0
    return spec.home_position + _AMPLITUDE * swing


def _tool_paths(spec: RobotSpec, dynamics: DynamicsParams | None, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """End-effector positions (N x 3) after each control step, MuJoCo then PyBullet."""
    raw_mujoco, raw_pybullet = MujocoRobot(spec, dynamics=dynamics), PybulletRobot(spec, dynamics=dynamics)
    robots = [SafeRobot(raw, clock_ns=raw.now_ns) for raw in (raw_mujoco, raw_pybullet)]
    for robot in robots:
        robot.reset(seed=0)
    link = spec.end_effector_link
    assert link is not None
    paths: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for k in range(round(seconds * spec.control_rate_hz)):
        command = Command.position(_arm_target(spec, (k + 1) * spec.control_period_s))
        sent = [robot.write(command) for robot in robots]
        np.testing.assert_array_equal(sent[0].values, sent[1].values)  # same safety decisions
        for robot in robots:
            robot.read()
        # MuJoCo's link poses are those of the start of its last step: bring them up to date.
        mujoco.mj_kinematics(raw_mujoco.model, raw_mujoco.data)
        paths[0].append(link_pose(raw_mujoco.model, raw_mujoco.data, link)[0])
        paths[1].append(raw_pybullet.body.link_pose(link)[0])
    for robot in robots:
        robot.close()
    return np.array(paths[0]), np.array(paths[1])


def _randomized(spec: RobotSpec) -> DynamicsParams:
    """One domain-randomization draw, written out: other gains, damping, armature, masses, delay."""
    return DynamicsParams(
        kp=tuple(0.9 * np.asarray(spec.sim.kp)),
        kv=tuple(1.1 * np.asarray(spec.sim.kv)),
        damping=(2.0, 2.0, 2.0, 1.0, 1.0, 1.0),
        armature=(0.3, 0.6, 0.4, 0.05, 0.2, 0.1),
        mass_scale={"upper_arm_link": 1.1, "forearm_link": 0.9, "wrist_2_link": 1.2},
        action_delay_steps=1,
    )


@pytest.mark.parametrize("case", ["nominal", "randomized", "no_gravity_compensation"])
def test_arm_end_effector_paths_agree_within_1_cm(case: str, tmp_path: Path) -> None:
    spec, dynamics = UR5E, None
    if case == "randomized":
        dynamics = _randomized(UR5E)
    elif case == "no_gravity_compensation":
        sim = yaml.safe_load((ROBOTS_DIR / "ur5e.yaml").read_text())["sim"]
        spec = ur5e_variant(tmp_path, sim={**sim, "gravity_compensation": False})
    mujoco_path, pybullet_path = _tool_paths(spec, dynamics, seconds=5.0)
    assert np.ptp(mujoco_path, axis=0).max() > 0.5  # the tool really went places
    deviation = np.linalg.norm(mujoco_path - pybullet_path, axis=1)
    assert deviation.max() < ARM_BOUND_M


def test_velocity_arm_paths_agree(tmp_path: Path) -> None:
    spec = ur5e_variant(tmp_path, command_interface="velocity")
    robots = [MujocoRobot(spec), PybulletRobot(spec)]
    for k in range(round(3.0 * spec.control_rate_hz)):
        t_s = k * spec.control_period_s
        speed = 0.5 * _AMPLITUDE * 2 * math.pi * _FREQUENCY_HZ * np.cos(2 * math.pi * _FREQUENCY_HZ * t_s + _PHASE)
        for robot in robots:
            robot.write(Command.velocity(speed))
    positions = [robot.read().position for robot in robots]
    assert np.abs(positions[0] - spec.home_position).max() > 0.3
    np.testing.assert_allclose(positions[1], positions[0], atol=1e-6)
    for robot in robots:
        robot.close()


def _twist(t_s: float) -> Command:
    """Forward speed between 0.08 and 0.22 m/s, turning both ways at up to about 2.3 rad/s."""
    linear = 0.15 + 0.07 * math.sin(2 * math.pi * 0.13 * t_s)
    angular = 1.5 * math.sin(2 * math.pi * 0.1 * t_s) + 0.8 * math.sin(2 * math.pi * 0.37 * t_s)
    return Command.twist(linear, angular)


def test_base_odometry_agrees_within_5_cm_over_10_s() -> None:
    raws = [MujocoRobot(BURGER), PybulletRobot(BURGER)]
    robots = [SafeRobot(raw, clock_ns=raw.now_ns) for raw in raws]
    for robot in robots:
        robot.reset(seed=0)
    worst = travelled = 0.0
    for k in range(round(10.0 * BURGER.control_rate_hz)):
        command = _twist(k * BURGER.control_period_s)
        for robot in robots:
            robot.write(command)
        odometry = [robot.read().odometry for robot in robots]
        assert odometry[0] is not None and odometry[1] is not None
        worst = max(worst, math.hypot(odometry[0].x_m - odometry[1].x_m, odometry[0].y_m - odometry[1].y_m))
        travelled += abs(odometry[0].linear_x_mps) * BURGER.control_period_s
    assert travelled > 1.2
    assert worst < BASE_BOUND_M
    for robot in robots:
        robot.close()
