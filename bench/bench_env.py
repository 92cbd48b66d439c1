"""Environment step rate against the raw simulator stepping the same model, in the same process.

For each environment: env steps per second (``env.step`` with random actions, through
``gym.make``'s wrappers, the safety layer, the task and the simulated joint controller) over raw
steps per second of the same model, each raw step being as many physics steps as one env step
(``mj_step(m, d, nstep)`` on a copy of the env's MuJoCo model; ``stepSimulation`` calls on a
PyBullet client holding the same robot). Gymnasium's ``Reacher-v5`` is measured the same way, as
the reference a user would compare against. Then ``SubprocVecEnv`` throughput with 1 and 2
workers over one environment stepped in this process.

The machines are noisy: every pair is measured interleaved, ROUNDS times, and the median ratio
is printed with its range. Run: ``make bench`` or ``.venv/bin/python bench/bench_env.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

import sim.envs  # noqa: E402, F401  (registers sim2real/*)

ROUNDS = 5
SECONDS_PER_MEASURE = 0.6


def rate(step: Callable[[], object], seconds: float = SECONDS_PER_MEASURE) -> float:
    """Calls per second of ``step``, over about ``seconds``."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            step()
        calls += 20
    return calls / elapsed


def env_stepper(env: gym.Env) -> Callable[[], None]:
    env.reset(seed=0)
    actions = [env.action_space.sample() for _ in range(256)]
    counter = iter(range(1 << 62))

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(actions[next(counter) % len(actions)])
        if terminated or truncated:
            env.reset()

    return step


def mujoco_stepper(model: mujoco.MjModel, physics_steps: int) -> Callable[[], None]:
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return lambda: mujoco.mj_step(model, data, nstep=physics_steps)


def pybullet_stepper(client: int, physics_steps: int) -> Callable[[], None]:
    import pybullet

    def step() -> None:
        for _ in range(physics_steps):
            pybullet.stepSimulation(physicsClientId=client)

    return step


def compare(label: str, env_step: Callable[[], None], raw_step: Callable[[], object], raw_label: str) -> float:
    env_rates, raw_rates = [], []
    for _ in range(ROUNDS):
        env_rates.append(rate(env_step))
        raw_rates.append(rate(raw_step))
    ratios = [e / r for e, r in zip(env_rates, raw_rates, strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"{label:<34} env {statistics.median(env_rates):8.0f} steps/s | {raw_label} {statistics.median(raw_rates):8.0f}"
        f"/s | ratio {ratio:.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    return ratio


def physics_steps_per_env_step(env: gym.Env) -> int:
    unwrapped = env.unwrapped
    return int(unwrapped.sim.substeps * unwrapped.task.control_steps_per_action)


def bench_sim2real(env_id: str, backend: str) -> float:
    env = gym.make(env_id, backend=backend)
    steps = physics_steps_per_env_step(env)
    sim_robot = env.unwrapped.sim
    if backend == "mujoco":
        raw, raw_label = mujoco_stepper(sim_robot.model, steps), f"mj_step x{steps}"
    else:
        raw, raw_label = pybullet_stepper(sim_robot.client, steps), f"stepSimulation x{steps}"
    ratio = compare(f"{env_id} ({backend})", env_stepper(env), raw, raw_label)
    env.close()
    return ratio


def bench_safe_robot(robot_name: str) -> float:
    """The simulated arm alone behind its safety layer (``SafeRobot`` read + write of a moving
    target: one control period), without Gymnasium or a task."""
    from hardware import Command, RobotSpec
    from hardware.safety import SafeRobot
    from robots import robot_yaml
    from sim.mujoco_robot import MujocoRobot

    spec = RobotSpec.from_yaml(robot_yaml(robot_name))
    raw_robot = MujocoRobot(spec)
    robot = SafeRobot(raw_robot, clock_ns=raw_robot.now_ns)
    robot.reset()
    rng = np.random.default_rng(0)
    targets = [Command.position(spec.home_position + rng.normal(0, 0.3, spec.dof)) for _ in range(64)]
    counter = iter(range(1 << 62))

    def step() -> None:
        robot.read()
        robot.write(targets[next(counter) % len(targets)])

    raw = mujoco_stepper(raw_robot.model, raw_robot.substeps)
    return compare(f"{robot_name} SafeRobot (mujoco)", step, raw, f"mj_step x{raw_robot.substeps}")


def bench_reacher() -> float:
    env = gym.make("Reacher-v5")
    unwrapped = env.unwrapped
    raw = mujoco_stepper(unwrapped.model, unwrapped.frame_skip)
    ratio = compare("Reacher-v5 (gymnasium, reference)", env_stepper(env), raw, f"mj_step x{unwrapped.frame_skip}")
    env.close()
    return ratio


def bench_vec_env(env_id: str) -> None:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    def throughput(vec_env: object, n_envs: int) -> float:
        vec_env.reset()  # type: ignore[attr-defined]
        actions = np.stack([vec_env.action_space.sample() for _ in range(n_envs)])  # type: ignore[attr-defined]
        return rate(lambda: vec_env.step(actions), seconds=2 * SECONDS_PER_MEASURE) * n_envs  # type: ignore[attr-defined]

    single = make_vec_env(env_id, n_envs=1, vec_env_cls=DummyVecEnv)
    base = throughput(single, 1)
    single.close()
    print(f"{env_id} DummyVecEnv x1 (in process): {base:8.0f} env steps/s")
    for workers in (1, 2):
        vec = make_vec_env(env_id, n_envs=workers, vec_env_cls=SubprocVecEnv)
        steps = throughput(vec, workers)
        vec.close()
        print(f"{env_id} SubprocVecEnv x{workers}:        {steps:8.0f} env steps/s  ({steps / base:.2f}x in-process)")


def main() -> None:
    print(f"environment step rate over the raw simulator, median of {ROUNDS} interleaved rounds")
    arm = bench_sim2real("sim2real/ArmReach-v0", "mujoco")
    robot = bench_safe_robot("ur5e")
    reacher = bench_reacher()
    bench_sim2real("sim2real/ArmPush-v0", "mujoco")
    bench_sim2real("sim2real/BaseNavigate-v0", "mujoco")
    bench_sim2real("sim2real/ArmReach-v0", "pybullet")
    bench_sim2real("sim2real/BaseNavigate-v0", "pybullet")
    print(
        f"raw mj_step kept: ArmReach env {arm:.2f}, the UR5e behind its safety layer {robot:.2f} "
        f"(target >= 0.80); Gymnasium's Reacher-v5 {reacher:.2f}"
    )
    bench_vec_env("sim2real/ArmReach-v0")


if __name__ == "__main__":
    main()
