"""Policy benchmarks of the policies issue: each trains a method and its baseline in the same run
and prints the ratio, plus the run folders (learning curves, videos).

- ``reach``: ArmReach with SAC + gSDE (noise held per episode) and SAC with its Gaussian noise:
  steps to >= 95% evaluation success, wall time, and the continuity cost of the exploratory
  (training) actions; the gSDE / Gaussian ratio should be <= 1/3.
- ``explore``: BaseExplore with PPO + RND and PPO alone, same budget, 3 seeds: maze coverage of
  the training episodes (mean and spread); the ratio should be >= 1.5.
- ``push``: ArmPush with SAC + HER, with and without RND: success at a fixed budget.
- ``transfer``: export the reach run's bundle and run it in PyBullet (trained in MuJoCo):
  success rate over 20 episodes, the first sim-to-sim number.

Usage: ``python bench/bench_policies.py [--only reach explore push transfer] [--jobs 2]
[--out runs/bench_policies]``. The runs are independent trainings, run ``--jobs`` at a time
(one torch thread each); wall times are per run, so compare them only within one invocation.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import yaml

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Both reach 95% success by about 6k steps; the continuity costs compare the same 10k steps.
REACH_STEPS = 10_000
EXPLORE_STEPS = 150_000
EXPLORE_SEEDS = (0, 1, 2)
PUSH_STEPS = 20_000
TRANSFER_EPISODES = 20


def train_one(config: str, out: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Train one config into ``out`` (in a worker process) and return its metrics."""
    import torch

    torch.set_num_threads(1)
    from policies.train import train_from_file

    started = time.perf_counter()
    result = train_from_file(config, out, overrides, progress_bar=False)
    metrics = dict(result.metrics)
    metrics["wall_time_total_s"] = round(time.perf_counter() - started, 1)
    metrics["steps_to_95"] = steps_to_success(out / "eval" / "evaluations.npz", 0.95)
    print(f"  done: {config} seed {overrides.get('seed', 0)} -> {out} ({metrics['wall_time_total_s']} s)", flush=True)
    return metrics


def steps_to_success(evaluations: Path, threshold: float) -> int | None:
    """The first evaluation step with mean success >= ``threshold`` (``None`` if never)."""
    if not evaluations.is_file():
        return None
    data = np.load(evaluations)
    if "successes" not in data.files or not np.size(data["successes"]):
        return None
    reached = np.flatnonzero(data["successes"].mean(axis=1) >= threshold)
    return int(data["timesteps"][reached[0]]) if len(reached) else None


def jobs_for(parts: list[str], out: Path) -> list[tuple[str, str, Path, dict[str, Any]]]:
    jobs = []
    reach_done = (out / "arm_reach_sac_gsde" / "model.zip").is_file()
    if "reach" in parts or ("transfer" in parts and not reach_done):
        for config in ("arm_reach_sac_gsde", "arm_reach_sac"):
            jobs.append(("reach", config, out / config, {"budget.total_timesteps": REACH_STEPS, "eval.freq": 1000}))
    if "explore" in parts:
        for seed in EXPLORE_SEEDS:
            for config in ("base_explore_ppo_rnd", "base_explore_ppo"):
                overrides = {"budget.total_timesteps": EXPLORE_STEPS, "seed": seed, "eval.freq": 0}
                jobs.append(("explore", config, out / f"{config}_seed{seed}", overrides))
    if "push" in parts:
        for config in ("arm_push_sac_her_rnd", "arm_push_sac_her"):
            jobs.append(("push", config, out / config, {"budget.total_timesteps": PUSH_STEPS}))
    return jobs


def report_reach(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    gsde, gauss = results["arm_reach_sac_gsde"], results["arm_reach_sac"]
    ratio = gsde["training"]["continuity_cost"] / gauss["training"]["continuity_cost"]
    for name, r in (("SAC + gSDE", gsde), ("SAC Gaussian", gauss)):
        print(
            f"  {name:13s}: >=95% eval success at {r['steps_to_95']} steps, "
            f"final {100 * r['evaluation']['success_rate']:.0f}%, "
            f"{r['wall_time_s']:.0f} s for {r['total_timesteps']} steps, "
            f"continuity cost of exploratory actions {r['training']['continuity_cost']:.4f}  ({r['run']})"
        )
    print(f"  continuity cost gSDE / Gaussian: {ratio:.4f} (target <= 0.333)")
    return {"gsde": gsde, "gaussian": gauss, "continuity_ratio": ratio}


def report_explore(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for config in ("base_explore_ppo_rnd", "base_explore_ppo"):
        values = [results[f"{config}_seed{seed}"]["training"]["coverage_last"] for seed in EXPLORE_SEEDS]
        summary[config] = {
            "coverage_last_20_episodes": values,
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
        }
        print(f"  {config:22s}: coverage {np.mean(values):.3f} ± {np.std(values):.3f} over seeds {values}")
    ratio = summary["base_explore_ppo_rnd"]["mean"] / summary["base_explore_ppo"]["mean"]
    print(f"  coverage PPO+RND / PPO: {ratio:.2f} (target >= 1.5)")
    summary["ratio"] = ratio
    return summary


def report_push(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    for config in ("arm_push_sac_her_rnd", "arm_push_sac_her"):
        r = results[config]
        print(
            f"  {config:22s}: eval success {100 * r['evaluation']['success_rate']:.0f}% "
            f"at {r['total_timesteps']} steps, "
            f"training success {100 * r['training'].get('success_rate', float('nan')):.0f}%  ({r['run']})"
        )
    return {name: results[name] for name in ("arm_push_sac_her_rnd", "arm_push_sac_her")}


def transfer(run: Path) -> dict[str, Any]:
    """Export the MuJoCo-trained reach run and run its bundle in PyBullet."""
    from policies.deploy import run_bundle
    from policies.export import export_bundle

    bundle = export_bundle(run)
    summary = run_bundle(bundle, backend="pybullet", episodes=TRANSFER_EPISODES, seed=1000)
    print(f"  ArmReach bundle trained in MuJoCo, run in PyBullet: success {100 * summary['success_rate']:.0f}% "
          f"over {TRANSFER_EPISODES} episodes (target >= 80%)  ({bundle})")  # fmt: skip
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("reach", "explore", "push", "transfer"),
        default=["reach", "explore", "push", "transfer"],
    )
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (default 2: this machine's cores)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_policies"))
    args = parser.parse_args()
    from policies.metrics import yaml_ready

    jobs = jobs_for(args.only, args.out)
    print(f"== policy benchmarks: {len(jobs)} trainings, {args.jobs} at a time -> {args.out}", flush=True)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {job[2].name: pool.submit(train_one, job[1], job[2], job[3]) for job in jobs}
        results = {name: future.result() for name, future in futures.items()}
    report: dict[str, Any] = {"wall_time_s": round(time.perf_counter() - started, 1)}
    if "reach" in args.only:
        print("== ArmReach: SAC + gSDE vs SAC Gaussian")
        report["reach"] = report_reach(results)
    if "explore" in args.only:
        print(f"== BaseExplore: PPO + RND vs PPO, {EXPLORE_STEPS} steps, seeds {list(EXPLORE_SEEDS)}")
        report["explore"] = report_explore(results)
    if "push" in args.only:
        print(f"== ArmPush: SAC + HER with and without RND, {PUSH_STEPS} steps")
        report["push"] = report_push(results)
    if "transfer" in args.only:
        print("== sim-to-sim transfer")
        report["transfer"] = transfer(args.out / "arm_reach_sac_gsde")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.yaml").write_text(yaml.safe_dump(yaml_ready(report), sort_keys=False))
    print(f"== report: {args.out / 'report.yaml'} ({report['wall_time_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
