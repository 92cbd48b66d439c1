"""Domain randomization: ranges, the config format and its errors, calibration files, and the
shipped example configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hardware import RobotSpec
from sim.dynamics import DynamicsParams
from sim.randomization import (
    CalibrationError,
    DomainRandomization,
    IntegerRange,
    RandomizationConfigError,
    Range,
    load_calibration,
)
from tests.sim.helpers import ROBOTS_DIR, write_yaml

UR5E = RobotSpec.from_yaml(ROBOTS_DIR / "ur5e.yaml")
BURGER = RobotSpec.from_yaml(ROBOTS_DIR / "burger.yaml")

FULL_CONFIG: dict[str, Any] = {
    "friction_scale": {"uniform": [0.7, 1.3]},
    "damping": {"scale": {"log_uniform": [0.5, 2.0]}},
    "armature": {"scale": {"uniform": [0.8, 1.2]}},
    "friction_loss": {"uniform": [0.0, 0.2]},
    "kp": {"scale": {"uniform": [0.9, 1.1]}},
    "kv": {"scale": 1.5},
    "mass_scale": {"links": ["shoulder_link", "upper_arm_link"], "objects": ["block"], "uniform": [0.9, 1.1]},
    "action_delay_steps": {"integers": [0, 2]},
    "position_noise_std": 0.001,
    "velocity_noise_std": {"uniform": [0.0, 0.02]},
    "scan_noise_std": 0.01,
    "initial_position_noise": 0.05,
}


def test_ranges_sample_within_bounds_and_log_uniform_is_uniform_in_log() -> None:
    rng = np.random.default_rng(0)
    linear = np.array([Range(0.5, 2.0).sample(rng) for _ in range(20000)])
    log = np.array([Range(0.5, 2.0, log=True).sample(rng) for _ in range(20000)])
    assert linear.min() >= 0.5 and linear.max() <= 2.0 and log.min() >= 0.5 and log.max() <= 2.0
    assert np.median(linear) == pytest.approx(1.25, abs=0.02)  # arithmetic mean
    assert np.median(log) == pytest.approx(1.0, abs=0.02)  # geometric mean
    # uniform in log: each quarter of [log 0.5, log 2] holds a quarter of the draws
    counts, _ = np.histogram(np.log(log), bins=4, range=(np.log(0.5), np.log(2.0)))
    assert np.all(np.abs(counts / log.size - 0.25) < 0.015)
    delays = [IntegerRange(0, 2).sample(rng) for _ in range(3000)]
    assert set(delays) == {0, 1, 2}  # both ends included
    assert Range(0.3, 0.3).sample(rng) == 0.3
    with pytest.raises(ValueError, match="low 2.0 is above high 1.0"):
        Range(2.0, 1.0)
    with pytest.raises(ValueError, match="log_uniform range needs low > 0"):
        Range(0.0, 1.0, log=True)


def test_samples_fall_in_their_ranges_and_fit_the_spec() -> None:
    randomization = DomainRandomization.from_dict(FULL_CONFIG, UR5E)
    rng = np.random.default_rng(1)
    draws = [randomization.sample(rng) for _ in range(500)]
    for params in draws:
        params.check_for(UR5E)
        assert 0.7 <= params.friction_scale <= 1.3
        assert params.damping is not None and params.kv is not None and params.friction_loss is not None
        assert params.armature is not None and params.kp is not None
        for i in range(UR5E.dof):
            assert 0.5 * UR5E.sim.damping[i] <= params.damping[i] <= 2.0 * UR5E.sim.damping[i]
            assert 0.8 * UR5E.sim.armature[i] <= params.armature[i] <= 1.2 * UR5E.sim.armature[i]
            assert 0.9 * UR5E.sim.kp[i] <= params.kp[i] <= 1.1 * UR5E.sim.kp[i]
            assert params.kv[i] == pytest.approx(1.5 * UR5E.sim.kv[i])  # a fixed scale
            assert 0.0 <= params.friction_loss[i] <= 0.2
        assert set(params.mass_scale) == {"shoulder_link", "upper_arm_link", "block"}
        assert all(0.9 <= s <= 1.1 for s in params.mass_scale.values())
        assert params.action_delay_steps in (0, 1, 2)
        assert params.position_noise_std == 0.001 and params.scan_noise_std == 0.01
        assert 0.0 <= params.velocity_noise_std <= 0.02
        assert params.odometry_noise_std == 0.0  # not configured: nominal
    # joints and links draw independently
    damping = np.array([p.damping for p in draws])
    assert abs(np.corrcoef(damping[:, 0], damping[:, 1])[0, 1]) < 0.15
    assert len({p.action_delay_steps for p in draws}) == 3


def test_same_seed_same_draw_and_nominal() -> None:
    randomization = DomainRandomization.from_dict(FULL_CONFIG, UR5E)
    first = [randomization.sample(np.random.default_rng(42)) for _ in range(2)]
    assert first[0] == first[1]
    assert randomization.sample(np.random.default_rng(43)) != first[0]
    assert randomization.nominal == DynamicsParams()
    empty = DomainRandomization.from_dict({}, UR5E)
    assert empty.sample(np.random.default_rng(0)) == DynamicsParams()


def test_mass_scale_defaults_to_every_urdf_link() -> None:
    randomization = DomainRandomization.from_dict({"mass_scale": {"log_uniform": [0.8, 1.25]}}, BURGER)
    params = randomization.sample(np.random.default_rng(0))
    wheels = {"wheel_left_link", "wheel_right_link", "caster_back_link"}
    assert set(params.mass_scale) == {"base_footprint", "base_link", "imu_link", "base_scan", *wheels}
    params.check_for(BURGER)


def test_a_zero_nominal_scales_to_zero() -> None:
    # the Burger has no joint damping: a scale of it stays 0 (and log-uniform does not fail on it)
    randomization = DomainRandomization.from_dict({"damping": {"scale": {"log_uniform": [0.5, 2.0]}}}, BURGER)
    assert randomization.sample(np.random.default_rng(0)).damping == (0.0, 0.0)


@pytest.mark.parametrize("robot", ["ur5e", "burger"])
def test_shipped_example_configs_load_and_sample(robot: str) -> None:
    spec = RobotSpec.from_yaml(ROBOTS_DIR / f"{robot}.yaml")
    randomization = DomainRandomization.from_yaml(ROBOTS_DIR / "randomization" / f"{robot}.yaml", spec)
    rng = np.random.default_rng(0)
    draws = [randomization.sample(rng) for _ in range(50)]
    for params in draws:
        params.check_for(spec)
    assert len({p.friction_scale for p in draws}) == 50  # something is actually randomized


def write_calibration(tmp_path: Path, **changes: Any) -> Path:
    doc: dict[str, Any] = {
        "robot": "ur5e",
        "method": "sysid from 12 episodes",
        "parameters": {
            "damping": {"shoulder_pan_joint": {"value": 1.2, "std": 0.1}, "elbow_joint": {"value": 0.9, "std": 0.5}},
            "kp": {"wrist_3_joint": {"value": 120.0}},
            "friction_scale": {"value": 0.9, "std": 0.05},
            "action_delay_steps": {"value": 1},
        },
        "info": {"episodes": 12},
    }
    doc.update(changes)
    return write_yaml(tmp_path / "calibration.yaml", doc)


def test_calibration_sets_nominal_values(tmp_path: Path) -> None:
    calibration = load_calibration(write_calibration(tmp_path), UR5E)
    assert calibration.method == "sysid from 12 episodes"
    nominal = calibration.nominal_dynamics()
    assert nominal.damping == (1.2, 1.0, 0.9, 0.5, 0.5, 0.5)  # fitted joints, the rest from ur5e.yaml
    assert nominal.kp == (*UR5E.sim.kp[:5], 120.0)
    assert nominal.friction_scale == 0.9 and nominal.action_delay_steps == 1
    assert nominal.armature is None  # not fitted: the robot YAML's
    nominal.check_for(UR5E)


def test_calibration_centres_the_ranges(tmp_path: Path) -> None:
    path = write_calibration(tmp_path)
    config = {**FULL_CONFIG, "calibration": path.name, "calibration_sigmas": 3.0}
    randomization = DomainRandomization.from_yaml(write_yaml(tmp_path / "dr.yaml", config), UR5E)
    assert randomization.nominal == load_calibration(path, UR5E).nominal_dynamics()
    rng = np.random.default_rng(5)
    draws = [randomization.sample(rng) for _ in range(400)]
    pan = np.array([p.damping[0] for p in draws if p.damping is not None])
    elbow = np.array([p.damping[2] for p in draws if p.damping is not None])
    lift = np.array([p.damping[1] for p in draws if p.damping is not None])
    assert pan.min() >= 1.2 - 0.3 and pan.max() <= 1.2 + 0.3 and np.mean(pan) == pytest.approx(1.2, abs=0.03)
    assert elbow.min() >= 0.0 and elbow.max() <= 0.9 + 1.5  # clipped at 0 below
    assert lift.min() >= 0.5 and lift.max() <= 2.0  # not fitted: the configured scale range
    assert all(p.kp is not None and p.kp[5] == 120.0 for p in draws)  # std 0: fixed at the value
    assert all(0.75 <= p.friction_scale <= 1.05 for p in draws)  # 0.9 ± 3 * 0.05, replacing [0.7, 1.3]
    assert {p.action_delay_steps for p in draws} == {1}
    # from_calibration: only the fitted parameters vary
    only = DomainRandomization.from_calibration(path, UR5E, sigmas=1.0)
    params = only.sample(rng)
    assert params.damping is not None and 1.1 <= params.damping[0] <= 1.3
    assert params.armature is None and params.mass_scale == {} and params.position_noise_std == 0.0


def raises(config: dict[str, Any], match: str, spec: RobotSpec = UR5E) -> None:
    with pytest.raises(RandomizationConfigError, match=match):
        DomainRandomization.from_dict(config, spec, source="dr.yaml")


def test_bad_configs_name_the_key_and_the_fix() -> None:
    raises({"frction_scale": 1.0}, r"^dr.yaml: unknown key 'frction_scale'; did you mean 'friction_scale'\?$")
    raises(
        {"damping": {"scale": {"unifrom": [1, 2]}}}, r"unknown key 'unifrom' in damping.scale; did you mean 'uniform'"
    )
    raises({"damping": {"sacle": 1.0}}, r"unknown key 'sacle' in damping; did you mean 'scale'")
    raises({"damping": [1.0, 2.0]}, r"damping must be a number or one range.*use \{scale: ...\}")
    raises({"friction_scale": {"scale": [1, 2]}}, r"unknown key 'scale' in friction_scale")
    raises({"friction_scale": {"uniform": [1.0]}}, r"friction_scale.uniform must be \[low, high\], two numbers")
    raises({"friction_scale": {"uniform": [1.2, 0.8]}}, r"friction_scale: range low 1.2 is above high 0.8; swap them")
    raises({"damping": {"scale": {"log_uniform": [0.0, 2.0]}}}, r"damping.scale: a log_uniform range needs low > 0")
    raises({"friction_loss": {"uniform": [-0.1, 0.2]}}, r"friction_loss must not be negative")
    raises({"friction_scale": [0.7, 1.3]}, r"friction_scale must be a number or one range")
    raises(
        {"mass_scale": {"links": ["shouldr_link"], "uniform": [0.9, 1.1]}},
        r"unknown link 'shouldr_link' in mass_scale.links; did you mean 'shoulder_link'",
    )
    raises({"mass_scale": {"links": ["shoulder_link"]}}, r"mass_scale needs exactly one of uniform or log_uniform")
    raises({"mass_scale": {"uniform": [0.0, 1.0]}}, r"mass_scale must be positive")
    raises({"action_delay_steps": {"uniform": [0, 2]}}, r"unknown key 'uniform' in action_delay_steps; use one of")
    raises(
        {"action_delay_steps": {"integers": [0, 1.5]}}, r"action_delay_steps.integers must be \[low, high\], two whole"
    )
    raises({"action_delay_steps": {"integers": [2, 1]}}, r"action_delay_steps: range low 2 is above high 1")
    raises({"action_delay_steps": -1}, r"action_delay_steps must not be negative")
    raises({"calibration_sigmas": 2.0}, r"calibration_sigmas is set without calibration")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(RandomizationConfigError, match="no such randomization config; check the path"):
        DomainRandomization.from_yaml(tmp_path / "missing.yaml", UR5E)
    (tmp_path / "broken.yaml").write_text("damping: [1, \n")
    with pytest.raises(RandomizationConfigError, match=r"broken.yaml: not valid YAML"):
        DomainRandomization.from_yaml(tmp_path / "broken.yaml", UR5E)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(RandomizationConfigError, match=r"a randomization config is a mapping of keys, got list"):
        DomainRandomization.from_yaml(tmp_path / "list.yaml", UR5E)
    with pytest.raises(CalibrationError, match="no such calibration file"):
        DomainRandomization.from_dict({"calibration": "nowhere.yaml"}, UR5E, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"robot": "panda"}, r"robot is 'panda' but this is 'ur5e'; use a calibration of 'ur5e'"),
        ({"parameters": {"dampign": {}}}, r"unknown key 'dampign' in parameters; did you mean 'damping'"),
        (
            {"parameters": {"damping": {"elbow": {"value": 1.0}}}},
            r"unknown joint 'elbow' in parameters.damping; did you mean 'elbow_joint'",
        ),
        ({"parameters": {"kp": {"elbow_joint": 300.0}}}, r"parameters.kp.elbow_joint must be \{value: number, std"),
        ({"parameters": {"friction_scale": {"value": -1.0}}}, r"friction_scale.value must be a finite number >= 0"),
        ({"parameters": {"friction_scale": {"value": 1.0, "sd": 0.1}}}, r"unknown key 'sd' in .*did you mean 'std'"),
        ({"parameters": {"action_delay_steps": {"value": 1.5}}}, r"must be a whole number of steps"),
        ({"parameters": None}, r"parameters must be a mapping"),
        ({"fitted": "today"}, r"unknown key 'fitted'"),
    ],
)
def test_bad_calibration_files(tmp_path: Path, changes: dict[str, Any], match: str) -> None:
    path = write_calibration(tmp_path, **changes)
    with pytest.raises(CalibrationError, match=match):
        load_calibration(path, UR5E)
