"""Policy bundles for the ROS 2 tests, trained once per test session.

The end-to-end tests need policies that actually reach their goals, so these are trained (SAC,
a few thousand steps, about 40 s each on one core) rather than built untrained. pytest-xdist
workers share one copy: the first worker to ask trains it under a file lock in the session's
shared temporary folder, the others wait and reuse it. The fault tests only need a bundle of the
right shape and use untrained ones (``untrained_bundle``), which take a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

#: ArmReach on the UR5e, SAC with Gaussian noise and HER: 100% evaluation success after 2,500
#: steps (measured: 10/10 episodes, 43 s including evaluation).
REACH_CONFIG: dict[str, Any] = {
    "algorithm": "SAC",
    "env": {
        "task": "ArmReach",
        "kwargs": {"reward_type": "sparse"},
        "normalize": {"norm_obs": True, "norm_reward": False},
    },
    "hyperparams": {
        "learning_rate": 0.001,
        "buffer_size": 10000,
        "batch_size": 256,
        "gamma": 0.95,
        "tau": 0.05,
        "learning_starts": 1000,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    "exploration": {"gsde": {"use_sde": False}},
    "her": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
    "budget": {"total_timesteps": 2500},
    "seed": 0,
    "eval": {"freq": 0},
}

#: BaseNavigate on the burger in a 1 x 2 maze (the goal is the other cell, in sight), dense reward.
NAVIGATE_CONFIG: dict[str, Any] = {
    "algorithm": "SAC",
    "env": {
        "task": "BaseNavigate",
        "kwargs": {"rows": 1, "cols": 2, "min_path_cells": 1, "random_start": True, "reward_type": "dense"},
        "normalize": {"norm_obs": True, "norm_reward": False},
        "max_episode_steps": 100,
    },
    "hyperparams": {
        "learning_rate": 0.001,
        "buffer_size": 10000,
        "batch_size": 256,
        "gamma": 0.95,
        "learning_starts": 500,
        "policy_kwargs": {"net_arch": [128, 128]},
    },
    "exploration": {"gsde": {"use_sde": False}},
    "budget": {"total_timesteps": 6000},
    "seed": 0,
    "eval": {"freq": 0},
}


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session sees (the workers' common parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


def trained_bundle(tmp_path_factory: pytest.TempPathFactory, name: str, config: dict[str, Any]) -> Path:
    """Train ``config`` and export it, once per session; returns the bundle folder."""
    root = shared_dir(tmp_path_factory) / f"bundle-{name}"
    with FileLock(str(root) + ".lock"):
        bundle = root / "bundle"
        if not (bundle / "bundle.yaml").is_file():
            from policies.config import config_from_dict
            from policies.export import export_bundle
            from policies.train import train

            train(config_from_dict(config), root, progress_bar=False, final_evaluation=False, torch_threads=1)
            export_bundle(root, bundle)
    return bundle


def untrained_bundle(root: Path, task: str, **task_kwargs: Any) -> Path:
    """An exported bundle of an untrained SAC policy for ``task`` (right shapes, random actions)."""
    from policies.export import export_bundle
    from tests.policies.test_bundle import build_run

    config = {
        "algorithm": "SAC",
        "env": {"task": task, "kwargs": task_kwargs},
        "hyperparams": {"policy_kwargs": {"net_arch": [32, 32]}},
        "budget": {"total_timesteps": 100},
    }
    return export_bundle(build_run(root / "run", config), root / "bundle")
