"""Policy bundles: export from a run folder, parity with SB3, the robot contract, no pickle.

The run folders are built here with SB3 directly (untrained networks: parity does not need a
good policy), in the layout ``sim2real train`` writes (:mod:`policies.run_folder`).
"""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import yaml
from onnx import numpy_helper
from stable_baselines3.common.vec_env import VecNormalize

from hardware.spec import RobotSpec
from policies.algorithms import ALGORITHM_CLASSES, build_model
from policies.bundle import (
    METADATA_FILE,
    PARITY_ACTIONS,
    PARITY_FILE,
    POLICY_FILE,
    Bundle,
    BundleError,
    BundleMismatchError,
    BundleParityError,
    load_bundle,
)
from policies.config import config_from_dict, load_config, save_config
from policies.environments import make_single_env, make_training_env
from policies.export import export_bundle
from policies.run_folder import RunFolder
from robots import robot_yaml
from sim2real import cli

#: Load only the policy: no replay buffer (HER's would want the env).
NO_BUFFER = {"buffer_size": 1, "replay_buffer_class": None, "replay_buffer_kwargs": {}}


def build_run(root: Path, config: dict[str, Any], *, warmup_steps: int = 40, head_scale: float = 1.0) -> Path:
    """A run folder with an untrained learner built as ``sim2real train`` builds it: config.yaml,
    model.zip and, with ``env.normalize``, vecnormalize.pkl with statistics of ``warmup_steps``
    random steps.

    :param head_scale: multiplies the action head's weights (SB3 initialises it small; larger
        outputs reach the tanh squashing's and the clipping's saturation).
    """
    torch.set_num_threads(1)
    train_config = config_from_dict(config)
    run = RunFolder.at(root)
    run.root.mkdir(parents=True, exist_ok=True)
    save_config(train_config, run.config)
    env = make_training_env(train_config, n_envs=1)
    env.action_space.seed(0)
    env.reset()
    for _ in range(warmup_steps):
        env.step(np.array([env.action_space.sample()]))
    model = build_model(train_config, env)
    head = model.policy.action_net if train_config.algorithm == "PPO" else model.policy.actor.mu
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.mul_(head_scale)
    model.save(run.model)
    if isinstance(env, VecNormalize):
        env.save(str(run.vecnormalize))
    env.close()
    return run.root


def small(**hyperparams: Any) -> dict[str, Any]:
    return {"policy_kwargs": {"net_arch": [32, 32]}, **hyperparams}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Exported runs: SAC (Dict, VecNormalize, HER), TQC (Dict), PPO (Box, VecNormalize), PPO and
    SAC with gSDE (Box)."""
    root = tmp_path_factory.mktemp("runs")
    normalize = {"norm_obs": True, "norm_reward": False, "clip_obs": 5.0}
    gsde = {"gsde": {"use_sde": True, "log_std_init": -2.0}}
    arm = {"task": "ArmReach", "kwargs": {"backend": "mujoco", "reward_type": "dense"}, "normalize": normalize}
    made = {
        "sac": build_run(
            root / "sac",
            {
                "algorithm": "SAC",
                "env": arm,
                "hyperparams": small(buffer_size=1000),
                "her": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
                "seed": 3,
            },
            head_scale=3.0,
        ),
        "tqc": build_run(
            root / "tqc",
            {
                "algorithm": "TQC",
                "env": {"task": "ArmReach", "max_episode_steps": 30},
                "hyperparams": small(buffer_size=1000, policy_kwargs={"net_arch": [32, 32], "n_critics": 2}),
            },
        ),
        "ppo": build_run(
            root / "ppo",
            {
                "algorithm": "PPO",
                "env": {"task": "BaseNavigate", "normalize": normalize},
                "hyperparams": small(n_steps=64, batch_size=32),
            },
            head_scale=300.0,
        ),
        "ppo_sde": build_run(
            root / "ppo_sde",
            {
                "algorithm": "PPO",
                "env": {"task": "BaseExplore"},
                "exploration": gsde,
                "hyperparams": small(n_steps=64, batch_size=32),
            },
            head_scale=50.0,
        ),
        "sac_sde": build_run(
            root / "sac_sde",
            {
                "algorithm": "SAC",
                "env": {"task": "BaseNavigate"},
                "exploration": gsde,
                "hyperparams": small(buffer_size=1000),
            },
            head_scale=2.0,
        ),
    }
    for run in made.values():
        export_bundle(run, parity_count=48)
    return made


def spec_of(name: str) -> RobotSpec:
    return RobotSpec.from_yaml(robot_yaml(name))


def sb3_actions(run: Path, observations: Any) -> np.ndarray:
    """What SB3 itself does at evaluation: VecNormalize.normalize_obs, then predict(deterministic)."""
    folder = RunFolder.at(run)
    config = load_config(folder.config)
    model = ALGORITHM_CLASSES[config.algorithm].load(folder.model, device="cpu", custom_objects=NO_BUFFER)
    if folder.vecnormalize.is_file():
        with open(folder.vecnormalize, "rb") as file:  # our own test file
            normalizer = pickle.load(file)
        observations = normalizer.normalize_obs(observations)
    actions, _ = model.predict(observations, deterministic=True)
    return np.asarray(actions, dtype=np.float64)


def robot_for(run: Path) -> RobotSpec:
    return spec_of("ur5e" if load_config(RunFolder.at(run).config).env.task.startswith("Arm") else "burger")


# --- parity ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sac", "tqc", "ppo", "ppo_sde", "sac_sde"])
def test_onnx_matches_sb3_predict_on_parity_and_fresh_observations(runs: dict[str, Path], name: str) -> None:
    run = runs[name]
    bundle = load_bundle(RunFolder.at(run).bundle, robot_for(run))
    assert bundle.parity_max_error <= 1e-5
    observations, stored = parity_of(run)
    assert np.abs(stored - sb3_actions(run, observations)).max() <= 1e-5
    assert np.abs(bundle.act_batch(observations) - stored).max() <= 1e-5
    # The actions are not trivially constant (the check would then prove little).
    assert np.ptp(stored, axis=0).max() > 0.05

    # Fresh observations, one at a time, from another seed of the run's own environment.
    env = make_single_env(load_config(RunFolder.at(run).config))
    observation, _ = env.reset(seed=777)
    env.action_space.seed(777)
    for _ in range(6):
        expected = sb3_actions(run, observation)
        action = bundle.act(observation)
        assert action.dtype == np.float64 and action.shape == env.action_space.shape
        assert np.abs(action - expected).max() <= 1e-5
        observation, *_ = env.step(env.action_space.sample())
    env.close()


def test_squashed_and_clipped_actions_reach_the_bounds_as_in_sb3(runs: dict[str, Path]) -> None:
    # Large action heads drive SAC's tanh and PPO's clipping to the bounds: the graph must do what
    # predict() does there too.
    for name, exactly_at_bound in (("sac", False), ("ppo", True)):
        bundle = load_bundle(RunFolder.at(runs[name]).bundle, robot_for(runs[name]))
        observations, expected = parity_of(runs[name])
        actions = bundle.act_batch(observations)
        assert np.abs(actions).max() <= 1.0 and np.abs(expected).max() > 0.99
        assert np.any(np.abs(actions) == 1.0) == exactly_at_bound
        np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5)


def parity_of(run: Path) -> tuple[Any, np.ndarray]:
    """The bundle's parity observations (as the env gives them: a dict or an array) and actions."""
    with np.load(RunFolder.at(run).bundle / PARITY_FILE, allow_pickle=False) as parity:
        inputs = {k.removeprefix("inputs/"): parity[k] for k in parity.files if k != PARITY_ACTIONS}
        return (inputs if len(inputs) > 1 else inputs["observation"]), parity[PARITY_ACTIONS]


def test_a_run_that_sim2real_train_wrote_exports_faithfully(tmp_path: Path) -> None:
    # The real pipeline: held-noise gSDE SAC with HER and VecNormalize, a few gradient steps.
    from policies.train import train

    torch.set_num_threads(1)
    config = config_from_dict(
        {
            "algorithm": "SAC",
            "env": {"task": "ArmReach", "normalize": {"norm_obs": True}},
            "hyperparams": small(learning_starts=100, batch_size=32, buffer_size=1000),
            "exploration": {"gsde": {"use_sde": True}},
            "her": {"n_sampled_goal": 4},
            "budget": {"total_timesteps": 150},
            "eval": {"freq": 0, "video": False},
            "checkpoint": {"freq": 0},
            "name": "tiny",
        }
    )
    run = train(config, tmp_path / "run", progress_bar=False, final_evaluation=False).run.root
    bundle = load_bundle(export_bundle(run, parity_count=16), spec_of("ur5e"))
    assert bundle.metadata["training"]["trained_timesteps"] == 150
    assert bundle.metadata["exploration"]["gsde"]["use_sde"] is True
    env = make_single_env(config)
    observation, _ = env.reset(seed=1)
    for _ in range(4):
        assert np.abs(bundle.act(observation) - sb3_actions(run, observation)).max() <= 1e-5
        observation, *_ = env.step(env.action_space.sample())
    env.close()


# --- bundle.yaml -----------------------------------------------------------------------------------


def test_bundle_yaml_records_the_contract_and_the_training(runs: dict[str, Path]) -> None:
    data = yaml.safe_load((RunFolder.at(runs["sac"]).bundle / METADATA_FILE).read_text())
    ur5e = spec_of("ur5e")
    assert data["robot"]["joint_names"] == list(ur5e.joint_names)
    assert data["robot"]["control_rate_hz"] == ur5e.control_rate_hz
    assert data["robot"]["command_interface"] == "position"
    assert data["task"]["name"] == "ArmReach"
    assert data["task"]["kwargs"] == {"reward_type": "dense"}  # backend is simulator-only
    assert data["task"]["max_episode_steps"] == 50  # the task's default
    assert load_bundle(RunFolder.at(runs["tqc"]).bundle, ur5e).max_episode_steps == 30  # the config's
    assert [item["name"] for item in data["policy"]["inputs"]] == ["achieved_goal", "desired_goal", "observation"]
    assert data["observation"]["keys"]["observation"]["shape"] == [15]
    assert data["action"] == {"shape": [3], "dtype": "float32", "low": [-1.0] * 3, "high": [1.0] * 3}
    normalization = data["normalization"]
    assert normalization["clip_obs"] == 5.0 and sorted(normalization["keys"]) == [
        "achieved_goal",
        "desired_goal",
        "observation",
    ]
    with open(RunFolder.at(runs["sac"]).vecnormalize, "rb") as file:
        stats = pickle.load(file).obs_rms["observation"]
    np.testing.assert_allclose(normalization["keys"]["observation"]["mean"], stats.mean)
    assert data["exploration"]["her"]["n_sampled_goal"] == 4
    assert data["training"]["algorithm"] == "SAC" and data["training"]["seed"] == 3
    assert data["versions"]["onnxruntime"] and data["versions"]["stable-baselines3"] == "2.9.2"
    assert data["parity"]["count"] == 48 and data["parity"]["atol"] == 1e-5
    base = yaml.safe_load((RunFolder.at(runs["ppo_sde"]).bundle / METADATA_FILE).read_text())
    assert base["robot"]["base"]["wheel_radius_m"] == spec_of("burger").base.wheel_radius_m
    assert base["exploration"]["gsde"]["use_sde"] is True and base["normalization"] is None
    assert base["task"]["control_steps_per_action"] == 2 and base["task"]["policy_rate_hz"] == 10.0


# --- the robot contract ----------------------------------------------------------------------------


def test_an_arm_bundle_refuses_a_base_naming_the_kind(runs: dict[str, Path]) -> None:
    with pytest.raises(BundleMismatchError, match=r"trained for kind arm; robot 'burger' has base"):
        load_bundle(RunFolder.at(runs["sac"]).bundle, spec_of("burger"))


def test_a_different_control_rate_is_named(runs: dict[str, Path]) -> None:
    faster = dataclasses.replace(spec_of("ur5e"), control_rate_hz=20.0)
    with pytest.raises(BundleMismatchError, match=r"control rate of 10 Hz; robot 'ur5e' has 20 Hz"):
        load_bundle(RunFolder.at(runs["tqc"]).bundle, faster)


def test_reordered_joints_are_named_as_the_joint_order(runs: dict[str, Path]) -> None:
    ur5e = spec_of("ur5e")
    swapped = dataclasses.replace(ur5e, joints=(ur5e.joints[1], ur5e.joints[0], *ur5e.joints[2:]))
    with pytest.raises(BundleMismatchError, match=r"joint order \['shoulder_pan_joint', 'shoulder_lift_joint'"):
        load_bundle(RunFolder.at(runs["tqc"]).bundle, swapped)


def test_interface_limits_and_base_geometry_are_part_of_the_contract(runs: dict[str, Path]) -> None:
    ur5e = spec_of("ur5e")
    with pytest.raises(BundleMismatchError, match="command interface position; robot 'ur5e' has velocity"):
        load_bundle(RunFolder.at(runs["tqc"]).bundle, dataclasses.replace(ur5e, command_interface="velocity"))
    slow = dataclasses.replace(ur5e.joints[2], max_velocity=1.0)
    with pytest.raises(BundleMismatchError, match="elbow_joint max_velocity 3.14159; robot 'ur5e' has 1.0"):
        load_bundle(
            RunFolder.at(runs["tqc"]).bundle,
            dataclasses.replace(ur5e, joints=(*ur5e.joints[:2], slow, *ur5e.joints[3:])),
        )
    burger = spec_of("burger")
    assert burger.base is not None
    wheels = dataclasses.replace(burger, base=dataclasses.replace(burger.base, wheel_radius_m=0.05))
    with pytest.raises(BundleMismatchError, match="base wheel_radius_m 0.033; robot 'burger' has 0.05"):
        load_bundle(RunFolder.at(runs["ppo"]).bundle, wheels)


def test_an_observation_layout_that_differs_is_named(runs: dict[str, Path], tmp_path: Path) -> None:
    bundle = _copy(RunFolder.at(runs["ppo"]).bundle, tmp_path)
    data = yaml.safe_load((bundle / METADATA_FILE).read_text())
    data["observation"]["keys"]["observation"]["shape"] = [31]  # as if trained with 26 laser sectors
    (bundle / METADATA_FILE).write_text(yaml.safe_dump(data))
    with pytest.raises(BundleMismatchError, match=r"observation 'observation' of shape \(31,\); .* gives \(29,\)"):
        load_bundle(bundle, spec_of("burger"))


# --- broken bundles --------------------------------------------------------------------------------


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def test_changed_parity_actions_are_refused_naming_the_error_and_tolerance(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    bundle = _copy(RunFolder.at(runs["sac"]).bundle, tmp_path)
    inputs, actions = parity_of(runs["sac"])
    actions[5, 1] += 3e-4
    np.savez(bundle / PARITY_FILE, actions=actions, **{f"inputs/{k}": v for k, v in inputs.items()})
    with pytest.raises(BundleParityError, match=r"by up to 0\.0003 \(tolerance 1e-05, 48 vectors\)"):
        load_bundle(bundle, spec_of("ur5e"))


def test_changed_network_weights_are_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    bundle = _copy(RunFolder.at(runs["ppo"]).bundle, tmp_path)
    model = onnx.load(bundle / POLICY_FILE)
    weights = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(weights).copy()
    values *= 1.01
    weights.CopyFrom(numpy_helper.from_array(values, weights.name))
    onnx.save(model, bundle / POLICY_FILE)
    with pytest.raises(BundleParityError, match="policy.onnx differs from the PPO actions"):
        load_bundle(bundle, spec_of("burger"))


def test_missing_or_garbage_files_name_the_file(runs: dict[str, Path], tmp_path: Path) -> None:
    bundle = _copy(RunFolder.at(runs["tqc"]).bundle, tmp_path)
    (bundle / POLICY_FILE).write_bytes(b"not an onnx model")
    with pytest.raises(BundleError, match=r"policy\.onnx: onnxruntime cannot load it"):
        load_bundle(bundle, spec_of("ur5e"))
    (bundle / PARITY_FILE).write_bytes(b"garbage")
    shutil.copy(RunFolder.at(runs["tqc"]).bundle / POLICY_FILE, bundle / POLICY_FILE)
    with pytest.raises(BundleError, match=r"parity\.npz: not a readable \.npz"):
        load_bundle(bundle, spec_of("ur5e"))
    (bundle / METADATA_FILE).unlink()
    with pytest.raises(BundleError, match=r"bundle\.yaml not found"):
        load_bundle(bundle, spec_of("ur5e"))
    with pytest.raises(BundleError, match="it holds a training run: export it"):
        load_bundle(runs["tqc"], spec_of("ur5e"))


def test_loading_never_unpickles(runs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a bundle must load without pickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    bundle = load_bundle(RunFolder.at(runs["sac"]).bundle, spec_of("ur5e"))
    observation = {k: np.zeros(s.shape, np.float32) for k, s in bundle.make_task().observation_space.spaces.items()}
    assert np.all(np.isfinite(bundle.act(observation)))


def test_act_names_a_missing_key_or_a_wrong_size(runs: dict[str, Path]) -> None:
    bundle: Bundle = load_bundle(RunFolder.at(runs["tqc"]).bundle, spec_of("ur5e"))
    with pytest.raises(ValueError, match="dict observation with key 'achieved_goal'"):
        bundle.act({"observation": np.zeros(15)})
    with pytest.raises(ValueError, match="'observation' has 14 values, expected 15"):
        bundle.act({"achieved_goal": np.zeros(3), "desired_goal": np.zeros(3), "observation": np.zeros(14)})


def test_export_refuses_what_is_not_a_finished_run(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is not a training run .*model.zip missing"):
        export_bundle(tmp_path)
    run = Path(shutil.copytree(runs["ppo"], tmp_path / "run"))
    RunFolder.at(run).vecnormalize.unlink()
    with pytest.raises(BundleError, match="vecnormalize.pkl not found, but the config normalizes"):
        export_bundle(run)


# --- the command line ------------------------------------------------------------------------------


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "export", cli.Command("sim2real.export_cmd", "export"))
    monkeypatch.setitem(cli.COMMANDS, "run", cli.Command("sim2real.run_cmd", "run"))


@pytest.mark.usefixtures("commands")
def test_cli_export_prints_the_bundle_and_its_parity(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "exported"
    assert cli.main(["export", str(runs["tqc"]), "--out", str(out), "--parity", "16"]) == 0
    printed = capsys.readouterr().out
    assert f"bundle: {out}" in printed and "parity: ok, 16 observations" in printed
    assert load_bundle(out, spec_of("ur5e")).metadata["parity"]["count"] == 16


@pytest.mark.usefixtures("commands")
def test_cli_export_and_run_report_a_bad_path_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", str(tmp_path / "nope")]) == 2
    assert cli.main(["run", str(tmp_path / "nope")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("sim2real: error: ") for line in lines)
    assert "is not a training run" in lines[0] and "is not a policy bundle" in lines[1]
    assert captured.out == ""
