"""ArmKinematics: forward kinematics against the URDF, the Jacobian against finite differences,
and damped least-squares IK (convergence, orientation, limits, unreachable targets)."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware import RobotSpec
from hardware.urdf import load_urdf
from sim.kinematics import ArmKinematics
from sim.mujoco_model import build_mujoco_model
from sim.mujoco_urdf import link_pose, set_joint_positions
from tests.sim.helpers import ROBOTS_DIR, quaternion_angle, robot_spec, ur5e_variant, urdf_forward_kinematics

UR5E = RobotSpec.from_yaml(ROBOTS_DIR / "ur5e.yaml")


@pytest.fixture(scope="module")
def ur5e() -> ArmKinematics:
    return ArmKinematics(UR5E)


def random_q(spec: RobotSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Joint positions within limits (continuous joints and UR's ±2π in [-π, π])."""
    lower = np.maximum(spec.position_lower, -np.pi)
    upper = np.minimum(spec.position_upper, np.pi)
    return rng.uniform(lower, upper, size=(n, spec.dof))


@pytest.mark.parametrize("robot", ["ur5e", "panda"])
def test_forward_is_the_end_effector_link_pose(robot: str, tmp_path: Path) -> None:
    spec = robot_spec(robot, tmp_path)
    kinematics = ArmKinematics(spec)
    model = build_mujoco_model(spec)
    data = mujoco.MjData(model)
    urdf = load_urdf(spec.urdf_path)
    assert spec.end_effector_link is not None
    for q in random_q(spec, np.random.default_rng(1), 20):
        pose = kinematics.forward(q)
        set_joint_positions(model, data, spec.joint_names, q)
        mujoco.mj_kinematics(model, data)
        position, quaternion = link_pose(model, data, spec.end_effector_link)
        np.testing.assert_allclose(pose.position, position, atol=1e-9)
        assert quaternion_angle(pose.quaternion, quaternion) < 1e-7
        # and against the URDF's own numbers (the arms' other joints, e.g. fingers, at 0)
        reference = urdf_forward_kinematics(
            urdf, {**dict.fromkeys(urdf.joint_names, 0.0), **dict(zip(spec.joint_names, q, strict=True))}
        )
        np.testing.assert_allclose(pose.position, reference[spec.end_effector_link][:3, 3], atol=1e-6)


@pytest.mark.parametrize("robot", ["ur5e", "panda"])
def test_jacobian_matches_finite_differences(robot: str, tmp_path: Path) -> None:
    spec = robot_spec(robot, tmp_path)
    kinematics = ArmKinematics(spec)
    h = 1e-6
    for q in random_q(spec, np.random.default_rng(2), 10):
        jacobian = kinematics.jacobian(q)
        assert jacobian.shape == (6, spec.dof)
        numeric = np.zeros((6, spec.dof))
        for i in range(spec.dof):
            plus, minus = (
                kinematics.forward(q + h * np.eye(spec.dof)[i]),
                kinematics.forward(q - h * np.eye(spec.dof)[i]),
            )
            numeric[:3, i] = (plus.position - minus.position) / (2 * h)
            rotation = np.zeros(4)  # plus * minus⁻¹: the world-frame rotation between them
            mujoco.mju_mulQuat(rotation, plus.quaternion, minus.quaternion * np.array([1, -1, -1, -1]))
            angular = np.zeros(3)
            mujoco.mju_quat2Vel(angular, rotation, 2 * h)
            numeric[3:, i] = angular
        np.testing.assert_allclose(jacobian, numeric, atol=1e-6)


def test_solve_reaches_reachable_targets_from_home(ur5e: ArmKinematics) -> None:
    rng = np.random.default_rng(3)
    home = UR5E.home_position
    for _ in range(20):
        target = ur5e.forward(home + rng.uniform(-0.6, 0.6, UR5E.dof))  # reachable by construction
        q = home.copy()
        for _ in range(6):  # a few control steps of 3 iterations each
            q = ur5e.solve(q, target.position)
        assert np.linalg.norm(ur5e.forward(q).position - target.position) < 1e-3


def test_solve_reaches_and_keeps_orientation(ur5e: ArmKinematics) -> None:
    home = UR5E.home_position
    start = ur5e.forward(home)
    rng = np.random.default_rng(4)
    for _ in range(10):
        # move the tool in a straight line while it keeps pointing where it pointed at home
        goal = start.position + rng.uniform(-0.15, 0.15, 3)
        q = home.copy()
        for _ in range(6):
            q = ur5e.solve(q, goal, start.quaternion)
        reached = ur5e.forward(q)
        assert np.linalg.norm(reached.position - goal) < 1e-3
        assert quaternion_angle(reached.quaternion, start.quaternion) < 1e-3
    # a new orientation as well as a new position, from a reachable pose
    target = ur5e.forward(home + np.array([0.3, -0.2, 0.2, 0.1, -0.3, 0.4]))
    q = home.copy()
    for _ in range(10):
        q = ur5e.solve(q, target.position, target.quaternion)
    assert quaternion_angle(ur5e.forward(q).quaternion, target.quaternion) < 1e-3


def test_position_only_solve_ignores_orientation(ur5e: ArmKinematics) -> None:
    """Without a quaternion, the position converges in fewer calls than the full pose would
    need, and the orientation is free to change."""
    home = UR5E.home_position
    target = ur5e.forward(home + np.array([0.5, -0.4, 0.5, 0.5, 0.5, 0.5]))
    q = ur5e.solve(ur5e.solve(home, target.position), target.position)
    assert np.linalg.norm(ur5e.forward(q).position - target.position) < 1e-3
    assert quaternion_angle(ur5e.forward(q).quaternion, target.quaternion) > 0.05


@given(
    start=st.lists(st.floats(-np.pi, np.pi), min_size=6, max_size=6),
    target=st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=3),
    quaternion=st.none()
    | st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4).filter(lambda v: np.linalg.norm(v) > 0.1),
)
def test_solve_stays_within_tight_limits_and_finite(
    narrow_ur5e: ArmKinematics, start: list[float], target: list[float], quaternion: list[float] | None
) -> None:
    spec = narrow_ur5e.spec
    q = narrow_ur5e.solve(start, target, quaternion, iterations=5)
    assert np.all(np.isfinite(q))
    assert np.all(q >= spec.position_lower) and np.all(q <= spec.position_upper)


@pytest.fixture(scope="module")
def narrow_ur5e(tmp_path_factory: pytest.TempPathFactory) -> ArmKinematics:
    limits = {"acceleration": 8.0, "position": {"shoulder_lift_joint": [-2.0, -1.0], "elbow_joint": [0.5, 2.0]}}
    return ArmKinematics(ur5e_variant(tmp_path_factory.mktemp("narrow"), limits=limits))


def test_unreachable_target_stretches_toward_it_without_nan(ur5e: ArmKinematics) -> None:
    far = np.array([3.0, 2.0, 1.0])  # the UR5e reaches about 0.85 m
    q = UR5E.home_position.copy()
    start_distance = np.linalg.norm(ur5e.forward(q).position - far)
    for _ in range(30):
        q = ur5e.solve(q, far, np.array([0.0, 1.0, 0.0, 0.0]))
        assert np.all(np.isfinite(q))
        assert np.all(q >= UR5E.position_lower) and np.all(q <= UR5E.position_upper)
    reached = ur5e.forward(q).position
    assert np.linalg.norm(reached - far) < start_distance - 0.3
    assert np.linalg.norm(reached) > 0.8  # stretched out toward it


def test_bad_inputs_are_rejected(ur5e: ArmKinematics, tmp_path: Path) -> None:
    home = UR5E.home_position
    with pytest.raises(ValueError, match="q must have 6 values"):
        ur5e.forward(np.zeros(5))
    with pytest.raises(ValueError, match="target_position must be finite"):
        ur5e.solve(home, [np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match="target_quaternion is zero"):
        ur5e.solve(home, [0.3, 0.0, 0.3], [0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="damping must be > 0"):
        ur5e.solve(home, [0.3, 0.0, 0.3], damping=0.0)
    with pytest.raises(ValueError, match="max_error_m must be > 0"):
        ur5e.solve(home, [0.3, 0.0, 0.3], max_error_m=-1.0)
    with pytest.raises(ValueError, match="has no end effector"):
        ArmKinematics(robot_spec("burger", tmp_path))


def test_results_are_fresh_arrays(ur5e: ArmKinematics) -> None:
    """Callers may keep what they get: later calls must not overwrite it."""
    home = UR5E.home_position
    pose, jacobian = ur5e.forward(home), ur5e.jacobian(home)
    q = ur5e.solve(home, pose.position + 0.05)
    kept = (pose.position.copy(), jacobian.copy(), q.copy())
    ur5e.forward(home + 0.3)
    ur5e.jacobian(home + 0.3)
    ur5e.solve(home + 0.3, [0.2, 0.2, 0.2])
    for before, after in zip(kept, (pose.position, jacobian, q), strict=True):
        np.testing.assert_array_equal(before, after)
