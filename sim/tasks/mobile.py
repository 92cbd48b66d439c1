"""Mobile-base tasks in seeded mazes (:mod:`sim.maze`): navigate to a goal, explore.

Action (both): twist = (forward speed, yaw rate) as fractions of the base's limits, in [-1, 1]
(:func:`sim.tasks.base_control.twist_command`). The policy acts at 10 Hz by default.

Observation layout (float32, flat):

- ``BaseNavigate``: laser sectors (``scan_sectors``, 0 to 1, see
  :func:`~sim.tasks.base_control.scan_features`), odometry speed and yaw rate (over the limits),
  goal distance over ``range_max`` of the laser, ``sin`` and ``cos`` of the goal's bearing.
  The goal is given in the odometry frame (which starts at the base's start pose).
- ``BaseExplore``: laser sectors, odometry speed and yaw rate, odometry ``x, y`` over
  ``range_max``, ``sin`` and ``cos`` of the odometry heading.

Rewards:

- ``BaseNavigate`` (sparse, the Fetch convention): -1 per step, 0 on the step that arrives within
  ``goal_tolerance_m`` of the goal (odometry distance), which ends the episode; so the return is
  minus the steps taken. ``reward_type="dense"``: minus the odometry distance to the goal, m,
  per step (0 on arrival), which learns in a few thousand steps where the goal is in sight.
  Optional ``collision_penalty`` is subtracted on steps where the nearest
  laser return is closer than ``collision_distance_m`` (off by default).
- ``BaseExplore``: none (``reward_type="none"``, 0, the default) or ``"sparse"``: +1 the first
  time the base enters a square of the odometry grid (``cell_size_m``; computed from odometry, so
  it works on a robot without a maze). ``info["coverage"]`` is the ground-truth measure: the
  fraction of the maze's cells the base has been in (simulator pose).

Mazes: ``maze_seed`` (an int) fixes one maze for every episode; ``maze_seed=None`` draws a new
maze each episode from the reset's random generator (the simulator is rebuilt).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from hardware.command import Command
from hardware.spec import RobotSpec
from hardware.state import RobotState
from sim.maze import Cell, Maze
from sim.tasks.base_control import (
    VELOCITY_FEATURE_BOUND,
    relative_goal,
    require_base,
    require_odometry,
    scan_features,
    sector_bounds,
    twist_command,
    velocity_features,
)
from sim.tasks.task import Observation, Outcome, Task, box, clipped
from sim.world import Marker, Pose, SimWorld, WorldLayout

#: Policy rate of the base tasks, Hz (the burger at 20 Hz: 2 control periods per action).
BASE_POLICY_RATE_HZ = 10.0
#: Bound of the distance and position features, in units of the laser's range.
DISTANCE_FEATURE_BOUND = 4.0
GOAL_MARKER = "goal"


class _MazeTask(Task):
    """What navigate and explore share: the maze, the twist action, laser and velocity features."""

    default_robot = "burger"

    def __init__(
        self,
        spec: RobotSpec,
        *,
        maze_seed: int | None,
        rows: int,
        cols: int,
        cell_size_m: float,
        scan_sectors: int,
        control_steps_per_action: int | None,
    ) -> None:
        steps = control_steps_per_action or max(1, round(spec.control_rate_hz / BASE_POLICY_RATE_HZ))
        super().__init__(spec, control_steps_per_action=steps)
        self.laser = require_base(spec, type(self).__name__)
        self.maze_seed = maze_seed
        self.rows, self.cols, self.cell_size_m = rows, cols, float(cell_size_m)
        # A per-episode maze (maze_seed None) starts as maze 0 until the first reset draws one.
        self.maze = self._generate(maze_seed if maze_seed is not None else 0)
        sector_bounds(self.laser.num_beams, scan_sectors)  # checks the sector count
        self.scan_sectors = scan_sectors
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def resample_world(self, rng: np.random.Generator) -> bool:
        if self.maze_seed is not None:
            return False
        self.maze = self._generate(int(rng.integers(2**31)))
        return True

    def _generate(self, seed: int) -> Maze:
        return Maze.generate(seed, rows=self.rows, cols=self.cols, cell_size_m=self.cell_size_m)

    def world_layout(self) -> WorldLayout:
        return WorldLayout(objects=self.maze.walls(), markers=self._markers())

    def _markers(self) -> tuple[Marker, ...]:
        return ()

    def command(self, action: ArrayLike, state: RobotState) -> Command:
        return twist_command(self.spec, action)

    def _common_features(self, state: RobotState) -> NDArray[np.float64]:
        scan = scan_features(self.laser, state, self.scan_sectors)
        return np.concatenate([scan, velocity_features(self.spec, state)])

    def _common_bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        velocity = np.full(2, VELOCITY_FEATURE_BOUND)
        return (
            np.concatenate([np.zeros(self.scan_sectors), -velocity]),
            np.concatenate([np.ones(self.scan_sectors), velocity]),
        )

    def _place_base(self, world: SimWorld, cell: Cell, yaw_rad: float) -> None:
        x, y = self.maze.cell_center(cell)
        world.set_base_pose(x, y, yaw_rad)


class BaseNavigate(_MazeTask):
    """Drive the base to a goal cell of a maze, from laser and odometry.

    Each episode starts in a random cell (``random_start``; else cell (0, 0)) facing a random
    heading, with the goal at the centre of a cell at least ``min_path_cells`` moves away.

    :param spec: a twist-driven base with a 2D laser.
    :param maze_seed: the maze, fixed for all episodes; ``None``: a new maze every episode.
    :param rows: maze cells along +y. :param cols: maze cells along +x.
    :param cell_size_m: maze cell size, m.
    :param scan_sectors: laser sectors in the observation (min-pooled).
    :param goal_tolerance_m: success radius, m (odometry distance to the goal).
    :param min_path_cells: least number of moves from the start cell to the goal cell.
    :param reward_type: ``"sparse"`` (-1 per step, 0 on arrival) or ``"dense"`` (minus the distance, m).
    :param collision_penalty: subtracted from the reward on near-collision steps (>= 0; 0 = off).
    :param collision_distance_m: a laser return closer than this counts as a near collision, m.
    :param random_start: start in a random cell (else cell (0, 0)).
    :param control_steps_per_action: control periods per action; default: a 10 Hz policy.
    """

    default_max_episode_steps = 400

    def __init__(
        self,
        spec: RobotSpec,
        *,
        maze_seed: int | None = 0,
        rows: int = 4,
        cols: int = 4,
        cell_size_m: float = 0.6,
        scan_sectors: int = 24,
        goal_tolerance_m: float = 0.15,
        min_path_cells: int = 2,
        reward_type: str = "sparse",
        collision_penalty: float = 0.0,
        collision_distance_m: float = 0.16,
        random_start: bool = True,
        control_steps_per_action: int | None = None,
    ) -> None:
        super().__init__(
            spec,
            maze_seed=maze_seed,
            rows=rows,
            cols=cols,
            cell_size_m=cell_size_m,
            scan_sectors=scan_sectors,
            control_steps_per_action=control_steps_per_action,
        )
        if not (goal_tolerance_m > 0 and collision_penalty >= 0 and collision_distance_m >= 0):
            raise ValueError(
                "goal_tolerance_m must be > 0, collision_penalty and collision_distance_m >= 0; got "
                f"{goal_tolerance_m}, {collision_penalty}, {collision_distance_m}"
            )
        self.goal_tolerance_m = float(goal_tolerance_m)
        self.min_path_cells = int(min_path_cells)
        if reward_type not in ("sparse", "dense"):
            raise ValueError(f"reward_type must be 'sparse' or 'dense', got {reward_type!r}")
        self.reward_type = reward_type
        self.collision_penalty = float(collision_penalty)
        self.collision_distance_m = float(collision_distance_m)
        self.random_start = random_start
        low, high = self._common_bounds()
        goal_low, goal_high = [0.0, -1.0, -1.0], [DISTANCE_FEATURE_BOUND, 1.0, 1.0]
        self.observation_space = box(np.concatenate([low, goal_low]), np.concatenate([high, goal_high]))
        #: The goal in the odometry frame, m (``reset`` sets it; on a robot, :meth:`set_goal`).
        self.goal_xy: NDArray[np.float64] | None = None
        self._goal_world: NDArray[np.float64] | None = None

    def set_goal(self, goal_xy: ArrayLike) -> None:
        """Set the goal in the odometry frame, ``x, y``, m."""
        value = np.asarray(goal_xy, dtype=np.float64).reshape(-1)
        if value.shape != (2,) or not np.all(np.isfinite(value)):
            raise ValueError(f"goal must be 2 finite values (x, y in the odometry frame, m), got {goal_xy!r}")
        self.goal_xy = value

    def _markers(self) -> tuple[Marker, ...]:
        return (Marker(GOAL_MARKER, radius_m=0.08, rgba=(0.1, 0.8, 0.2, 0.6)),)

    def reset(self, world: SimWorld, state: RobotState, rng: np.random.Generator) -> None:
        cells = self.maze.cells
        start = cells[int(rng.integers(len(cells)))] if self.random_start else (0, 0)
        yaw = float(rng.uniform(-math.pi, math.pi))
        goal_cell = self.maze.sample_goal_cell(rng, self.min_path_cells, start=start)
        self._place_base(world, start, yaw)
        start_xy = np.array(self.maze.cell_center(start))
        goal = np.array(self.maze.cell_center(goal_cell))
        world.set_marker(GOAL_MARKER, [*goal, 0.05])
        # Odometry restarts at zero at the start pose: rotate the world offset into that frame.
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = goal - start_xy
        self.set_goal([c * dx + s * dy, -s * dx + c * dy])
        self._goal_world = goal

    def observe(self, state: RobotState, objects: Mapping[str, Pose] | None = None) -> Observation:
        if self.goal_xy is None:
            raise RuntimeError("BaseNavigate has no goal yet; call reset() or set_goal() first")
        distance, bearing = relative_goal(state, self.goal_xy)
        goal = [distance / self.laser.range_max_m, math.sin(bearing), math.cos(bearing)]
        assert isinstance(self.observation_space, spaces.Box)
        return clipped(np.concatenate([self._common_features(state), goal]), self.observation_space)

    def evaluate(self, observation: Observation, state: RobotState) -> Outcome:
        assert self.goal_xy is not None
        distance, _ = relative_goal(state, self.goal_xy)
        success = distance <= self.goal_tolerance_m
        nearest = self.laser.range_max_m * float(np.min(scan_features(self.laser, state, 1)))
        collision = nearest < self.collision_distance_m
        progress = -distance if self.reward_type == "dense" else -1.0
        terms = {"success": 0.0 if success else progress, "collision": -self.collision_penalty if collision else 0.0}
        info = {"is_success": success, "goal_distance_m": distance, "collision": collision, "reward_terms": terms}
        return Outcome(reward=sum(terms.values()), terminated=success, info=info)

    def sim_info(self, world: SimWorld) -> dict[str, Any]:
        if self._goal_world is None:
            return {}
        here = world.base_pose().position[:2]
        return {"goal_distance_true_m": float(np.linalg.norm(here - self._goal_world))}


class BaseExplore(_MazeTask):
    """Visit as much of a maze as possible; coverage reported in ``info``.

    The base starts in cell (0, 0) facing a random heading.

    :param spec: a twist-driven base with a 2D laser.
    :param maze_seed: the maze, fixed for all episodes; ``None``: a new maze every episode.
    :param rows: maze cells along +y. :param cols: maze cells along +x.
    :param cell_size_m: maze cell size, m (also the odometry grid of the sparse reward).
    :param scan_sectors: laser sectors in the observation (min-pooled).
    :param reward_type: ``"none"`` (reward-free, 0) or ``"sparse"`` (+1 per new odometry-grid square).
    :param control_steps_per_action: control periods per action; default: a 10 Hz policy.
    """

    default_max_episode_steps = 500

    def __init__(
        self,
        spec: RobotSpec,
        *,
        maze_seed: int | None = 0,
        rows: int = 4,
        cols: int = 4,
        cell_size_m: float = 0.6,
        scan_sectors: int = 24,
        reward_type: str = "none",
        control_steps_per_action: int | None = None,
    ) -> None:
        super().__init__(
            spec,
            maze_seed=maze_seed,
            rows=rows,
            cols=cols,
            cell_size_m=cell_size_m,
            scan_sectors=scan_sectors,
            control_steps_per_action=control_steps_per_action,
        )
        if reward_type not in ("none", "sparse"):
            raise ValueError(f"reward_type must be 'none' or 'sparse', got {reward_type!r}")
        self.reward_type = reward_type
        low, high = self._common_bounds()
        pose_low, pose_high = [-DISTANCE_FEATURE_BOUND] * 2 + [-1.0, -1.0], [DISTANCE_FEATURE_BOUND] * 2 + [1.0, 1.0]
        self.observation_space = box(np.concatenate([low, pose_low]), np.concatenate([high, pose_high]))
        self._grid_visited: set[tuple[int, int]] = set()  # odometry-grid squares (the reward)
        self._cells_visited: set[Cell] = set()  # maze cells, ground truth (the coverage)

    def reset(self, world: SimWorld, state: RobotState, rng: np.random.Generator) -> None:
        self._place_base(world, (0, 0), float(rng.uniform(-math.pi, math.pi)))
        self._cells_visited = set()

    def begin(self, state: RobotState) -> None:
        self._grid_visited = {self._grid_square(state)}

    def observe(self, state: RobotState, objects: Mapping[str, Pose] | None = None) -> Observation:
        odometry = require_odometry(state)
        scale = self.laser.range_max_m
        pose = [odometry.x_m / scale, odometry.y_m / scale, math.sin(odometry.yaw_rad), math.cos(odometry.yaw_rad)]
        assert isinstance(self.observation_space, spaces.Box)
        return clipped(np.concatenate([self._common_features(state), pose]), self.observation_space)

    def evaluate(self, observation: Observation, state: RobotState) -> Outcome:
        square = self._grid_square(state)
        new = square not in self._grid_visited
        self._grid_visited.add(square)
        reward = 1.0 if new and self.reward_type == "sparse" else 0.0
        info = {"new_grid_square": new, "grid_squares_visited": len(self._grid_visited)}
        return Outcome(reward=reward, info={**info, "reward_terms": {"novelty": reward}})

    def sim_info(self, world: SimWorld) -> dict[str, Any]:
        """Coverage from the simulator's base pose; call once per step (it records the cell)."""
        x, y = world.base_pose().position[:2]
        cell = self.maze.cell_of(float(x), float(y))
        if cell is not None:
            self._cells_visited.add(cell)
        visited = len(self._cells_visited)
        return {"coverage": visited / self.maze.num_cells, "cells_visited": visited}

    def _grid_square(self, state: RobotState) -> tuple[int, int]:
        odometry = require_odometry(state)
        return (round(odometry.y_m / self.cell_size_m), round(odometry.x_m / self.cell_size_m))
