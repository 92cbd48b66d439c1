"""``sim2real rollout ENV``: run a policy in a simulated environment and write the video.

Policies without training: ``random`` (uniform actions, the exploration baseline) and
``scripted`` (a hand-written controller where one exists: ArmReach moves the end effector
straight at the goal). Prints, per episode and overall, what the policies issue measures:
return, success, continuity cost of the actions, coverage where the task reports it, and how
often the safety layer changed a command. Writes ``rollout.mp4`` and ``rollout.yaml`` to ``--out``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from policies.metrics import continuity_cost
from sim2real.errors import UsageError

POLICIES = ("random", "scripted")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Declare ``sim2real rollout`` and its arguments."""
    parser = subparsers.add_parser(
        "rollout",
        help="run a random or scripted policy in a simulated environment, with video",
        description="Run episodes of a sim2real environment (e.g. ArmReach, BaseExplore) in MuJoCo or "
        "PyBullet with a random or scripted policy; print success, return, continuity cost and "
        "coverage, and write rollout.mp4 and rollout.yaml to --out.",
    )
    parser.add_argument("env", help="environment: ArmReach, ArmPush, BaseNavigate, BaseExplore (or sim2real/...-v0)")
    parser.add_argument("--backend", choices=("mujoco", "pybullet"), default="mujoco")
    parser.add_argument("--policy", choices=POLICIES, default="random")
    parser.add_argument("--episodes", type=int, default=3, help="episodes to run (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--randomization", type=Path, help="domain randomization YAML (sim/randomization.py)")
    parser.add_argument("--out", type=Path, default=Path("runs/rollout"), help="folder for the video and summary")
    return parser


def env_id(name: str) -> str:
    """``ArmReach`` -> ``sim2real/ArmReach-v0``; full ids pass through.

    :raises UsageError: not a registered sim2real environment.
    """
    from sim.envs import ENV_IDS

    full = ENV_IDS.get(name, name)
    if full not in ENV_IDS.values():
        raise UsageError(f"unknown environment '{name}'; use one of {sorted(ENV_IDS)}")
    return full


def scripted_policy(env: Any) -> Callable[[Any], np.ndarray]:
    """A hand-written controller for ``env``'s task.

    :raises UsageError: the task has none (use ``--policy random``).
    """
    task = env.unwrapped.task
    if type(task).__name__ == "ArmReach" and task.actions.action_type == "ee_delta":
        step = task.actions.max_ee_step_m

        def reach(observation: dict[str, np.ndarray]) -> np.ndarray:
            # Straight at the goal, at full speed until the last step.
            return np.clip((observation["desired_goal"] - observation["achieved_goal"]) / step, -1.0, 1.0)

        return reach
    raise UsageError(f"no scripted policy for {type(task).__name__}; use --policy random")


def run(args: argparse.Namespace) -> int:
    """Run the episodes, write the video and the summary, print the numbers."""
    import gymnasium as gym

    import sim.envs  # noqa: F401  (registers the environments)
    from sim.video import record_rollout

    if args.episodes < 1:
        raise UsageError(f"--episodes is {args.episodes}; run at least 1")
    name = env_id(args.env)
    kwargs: dict[str, Any] = {"backend": args.backend, "render_mode": "rgb_array", "render_width": 480}
    if args.randomization is not None:
        if not args.randomization.is_file():
            raise UsageError(f"--randomization {args.randomization} does not exist; give a randomization YAML")
        kwargs["randomization"] = args.randomization
    env = gym.make(name, **kwargs)
    policy = scripted_policy(env) if args.policy == "scripted" else None
    steps = args.episodes * int(env.spec.max_episode_steps if env.spec else 100)
    actions: list[np.ndarray] = []

    def acting(observation: Any) -> Any:
        action = env.action_space.sample() if policy is None else policy(observation)
        actions.append(np.asarray(action, dtype=np.float64))
        return action

    if policy is None:
        env.action_space.seed(args.seed)
    print(f"{name} on {args.backend}, {args.policy} policy, {args.episodes} episodes ({steps} steps)")
    recording = record_rollout(env, acting, args.out / "rollout.mp4", steps=steps, seed=args.seed)
    env.close()
    episodes = _episodes(recording.rewards, recording.infos, recording.episode_starts, steps)
    low, high = env.action_space.low, env.action_space.high
    summary = {
        "env": name,
        "backend": args.backend,
        "policy": args.policy,
        "episodes": episodes,
        "success_rate": float(np.mean([e["success"] for e in episodes])),
        "mean_return": float(np.mean([e["return"] for e in episodes])),
        # Per episode, then averaged: the jump across a reset is not the policy's.
        "continuity_cost": float(
            np.mean(
                [continuity_cost(actions[e["first_step"] : e["first_step"] + e["steps"]], low, high) for e in episodes]
            )
        ),
        "commands_changed_by_safety_layer": int(sum(bool(i.get("command_clamped")) for i in recording.infos)),
        "video": str(recording.path),
    }
    for i, episode in enumerate(episodes):
        extra = f", coverage {episode['coverage']:.2f}" if "coverage" in episode else ""
        print(f"  episode {i}: return {episode['return']:.1f}, success {episode['success']}{extra}")
    print(
        f"  success rate {summary['success_rate']:.2f}, mean return {summary['mean_return']:.1f}, "
        f"continuity cost {summary['continuity_cost']:.3f}, "
        f"{summary['commands_changed_by_safety_layer']} of {steps} commands changed by the safety layer"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rollout.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))
    print(f"  video: {recording.path}\n  summary: {args.out / 'rollout.yaml'}")
    return 0


def _episode_continuity(actions: list[np.ndarray], episode: dict[str, Any], low: Any, high: Any) -> float:
    first = episode["first_step"]
    return continuity_cost(actions[first : first + episode["steps"]], low, high)


def _episodes(rewards: list[float], infos: list[dict[str, Any]], starts: list[int], steps: int) -> list[dict[str, Any]]:
    """Per-episode return, success (reached at any step) and final coverage, if reported."""
    bounds = [*starts, steps]
    episodes = []
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end <= begin:
            continue
        window = infos[begin:end]
        episode: dict[str, Any] = {
            "return": float(np.sum(rewards[begin:end])),
            "success": bool(any(i.get("is_success", False) for i in window)),
            "steps": end - begin,
            "first_step": begin,
        }
        if "coverage" in window[-1]:
            episode["coverage"] = float(window[-1]["coverage"])
        episodes.append(episode)
    return episodes
