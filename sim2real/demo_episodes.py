"""Part 6 of ``sim2real demo``: the bundle's recorded PyBullet run, read back and replayed.

The bag that part 4 recorded (the bundle driving the UR5e in PyBullet) is:

- summarised (``sim2real episodes info``);
- replayed open loop in MuJoCo (``sim2real replay --in-sim``): the same commands in the other
  simulator, and how far its joints drift from PyBullet's, as a PNG;
- evaluated offline (``sim2real replay --policy``): the bundle's actions on the logged
  observations against the logged ones (zero, since it is the bundle that drove the run);
- exported as transitions for off-policy training (``sim2real replay --export-dataset``).

A bag we did not write, the shared TurtleBot3 log (``../shared/data/bags/turtlebot3_sim.bag``,
ROS 1), is replayed on the burger in MuJoCo when it is present.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hardware import RobotSpec

#: The TurtleBot3 log of the shared test data, beside the repository (see its README).
TURTLEBOT_BAG = Path(__file__).resolve().parents[2] / "shared" / "data" / "bags" / "turtlebot3_sim.bag"


def run_episodes_demo(bag: Path, bundle: Path, out: Path) -> list[str]:
    """Read, replay, evaluate and export ``bag`` (recorded by ``bundle``); pictures go to ``out``."""
    from episodes.dataset import export_dataset
    from episodes.info import bag_info
    from episodes.offline import evaluate_offline
    from episodes.sim_replay import plot_replay, replay_in_sim
    from robots import robot_yaml

    out.mkdir(parents=True, exist_ok=True)
    info = bag_info(bag)
    robot = info["custom_data"].get("robot", "ur5e")  # what the recorder wrote
    spec = RobotSpec.from_yaml(robot_yaml(robot))
    lines = [f"  {bag}: {len(info['episodes'])} episodes of {robot}, {info['duration_s']:.1f} s, "
             f"{info['message_count']} messages on {len(info['topics'])} topics"]  # fmt: skip

    replay = replay_in_sim(bag, spec, "mujoco")
    png = plot_replay(replay, out / "replay_pybullet_run_in_mujoco.png", title="PyBullet run replayed in MuJoCo")
    worst = max(replay.metrics["per_joint"].items(), key=lambda item: item[1]["rmse_rad"])
    lines.append(
        f"  replayed in MuJoCo (episode 0, {replay.steps} steps open loop): joint RMSE "
        f"{replay.metrics['rmse_rad']:.2g} rad, max {replay.metrics['max_error_rad']:.2g} rad "
        f"(worst {worst[0]}; PyBullet's arm actuators do MuJoCo's servo arithmetic), {png}"
    )

    offline = evaluate_offline(bag, bundle, spec, out=out / "offline_actions.png")
    lines.append(
        f"  offline: the bundle's actions on the {offline['steps']} logged observations differ from the logged "
        f"actions by at most {offline['max']:.1g}, {offline['plot']}"
    )
    dataset = export_dataset(bag, spec, out / "dataset.npz", bundle=bundle)
    with np.load(dataset) as data:
        lines.append(f"  dataset: {len(data['rewards'])} transitions for an SB3 replay buffer, {dataset}")

    if TURTLEBOT_BAG.exists():
        burger = RobotSpec.from_yaml(robot_yaml("burger"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what the foreign bag lacks is reported by `episodes info`
            drive = replay_in_sim(TURTLEBOT_BAG, burger, "mujoco")
        png = plot_replay(drive, out / "turtlebot3_in_mujoco.png", title="turtlebot3_sim.bag on our burger in MuJoCo")
        m = drive.metrics
        lines.append(
            f"  a bag we did not write (TurtleBot3, ROS 1): {m['logged_path_m']:.1f} m logged, "
            f"{m['simulated_path_m']:.1f} m simulated ({drive.clipped} of {drive.steps} commands beyond the burger's "
            f"limits), final drift {m['final_position_drift_m']:.2f} m, {png}"
        )
    else:
        lines.append(f"  (the TurtleBot3 log is not at {TURTLEBOT_BAG}: its replay is skipped)")
    return lines
