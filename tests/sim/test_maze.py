"""Maze: seeded generation, connectivity, geometry of the walls, goal sampling, and the walls in
MuJoCo (a ray from a cell centre hits the wall where the maze says it is)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.maze import Maze, render_top_view

SEEDS = range(8)


def box_contains(wall_position: tuple[float, ...], half: tuple[float, ...], x: float, y: float) -> bool:
    return abs(x - wall_position[0]) <= half[0] and abs(y - wall_position[1]) <= half[1]


def test_same_seed_same_maze_and_seeds_differ() -> None:
    mazes = [Maze.generate(seed) for seed in SEEDS]
    assert all(Maze.generate(seed) == maze for seed, maze in zip(SEEDS, mazes, strict=True))
    assert Maze.generate(3).walls() == mazes[3].walls()
    assert len({maze.openings for maze in mazes}) == len(mazes)


@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 7), cols=st.integers(1, 7), extra=st.floats(0.0, 1.0))
def test_every_cell_is_reachable_from_the_start(seed: int, rows: int, cols: int, extra: float) -> None:
    maze = Maze.generate(seed, rows=rows, cols=cols, extra_openings=extra)
    assert set(maze.distances_from((0, 0))) == set(maze.cells)
    assert len(maze.cells) == maze.num_cells == rows * cols


def test_perfect_maze_then_extra_openings_add_loops() -> None:
    for seed in SEEDS:
        perfect = Maze.generate(seed, rows=5, cols=6, extra_openings=0.0)
        # a spanning tree: one passage fewer than cells, so exactly one path between any two cells
        assert len(perfect.openings) == perfect.num_cells - 1
        inner_walls = 5 * 5 + 4 * 6 - len(perfect.openings)
        looped = Maze.generate(seed, rows=5, cols=6, extra_openings=0.5)
        assert len(looped.openings) == perfect.num_cells - 1 + round(0.5 * inner_walls)
        assert perfect.openings < looped.openings  # the same tree, with walls knocked out
    full = Maze.generate(0, rows=3, cols=3, extra_openings=1.0)
    assert all(full.path_length((0, 0), cell) == sum(cell) for cell in full.cells)  # no inner walls left


def test_neighbours_and_path_length_follow_the_openings() -> None:
    maze = Maze.generate(5)
    for cell in maze.cells:
        for n in maze.neighbours(cell):
            assert maze.is_open(cell, n) and cell in maze.neighbours(n)
            assert abs(n[0] - cell[0]) + abs(n[1] - cell[1]) == 1
    for a in maze.cells:
        for b in maze.cells:
            path = maze.shortest_path(a, b)
            assert maze.path_length(a, b) == len(path) - 1 == maze.path_length(b, a)
            assert all(q in maze.neighbours(p) for p, q in zip(path, path[1:], strict=False))
            assert maze.path_length(a, b) >= abs(a[0] - b[0]) + abs(a[1] - b[1])


def test_hand_built_maze_distances() -> None:
    # a 1 x 3 corridor, open end to end; then the same with the wall between (0, 1) and (0, 2) closed
    corridor = Maze(1, 3, 0.5, 0.02, 0.1, frozenset({((0, 0), (0, 1)), ((0, 1), (0, 2))}))
    assert corridor.path_length((0, 0), (0, 2)) == 2
    blocked = Maze(1, 3, 0.5, 0.02, 0.1, frozenset({((0, 0), (0, 1))}))
    with pytest.raises(ValueError, match=r"cell \(0, 2\) cannot be reached from \(0, 0\)"):
        blocked.path_length((0, 0), (0, 2))
    with pytest.raises(ValueError, match="not a pair of neighbouring cells"):
        Maze(2, 2, 0.5, 0.02, 0.1, frozenset({((0, 0), (1, 1))}))
    with pytest.raises(ValueError, match="below cell_size_m"):
        Maze.generate(0, cell_size_m=0.3, wall_thickness_m=0.3)


def test_cell_geometry() -> None:
    maze = Maze.generate(1, rows=3, cols=5, cell_size_m=0.5)
    assert maze.cell_center((0, 0)) == (0.0, 0.0)
    assert maze.cell_center((2, 4)) == (2.0, 1.0)  # columns along +x, rows along +y
    for cell in maze.cells:
        x, y = maze.cell_center(cell)
        assert maze.cell_of(x, y) == cell
        assert maze.cell_of(x + 0.24, y - 0.24) == cell
    assert maze.cell_of(-0.3, 0.0) is None
    assert maze.cell_of(0.0, 1.3) is None
    assert maze.cell_of(2.2, 0.0) == (0, 4)
    with pytest.raises(ValueError, match="outside the 3 x 5 maze"):
        maze.cell_center((3, 0))


@pytest.mark.parametrize("seed", SEEDS)
def test_walls_match_the_openings_and_never_cover_a_cell_centre(seed: int) -> None:
    maze = Maze.generate(seed, rows=4, cols=5)
    walls = maze.walls()
    assert [w.name for w in walls] == [f"wall_{i}" for i in range(len(walls))]
    assert all(w.shape == "box" and not w.movable for w in walls)
    assert all(w.position[2] == pytest.approx(maze.wall_height_m / 2) for w in walls)
    s = maze.cell_size_m

    def wall_at(x: float, y: float) -> bool:
        return any(box_contains(w.position, w.size, x, y) for w in walls)

    for cell in maze.cells:
        x, y = maze.cell_center(cell)
        assert not wall_at(x, y)
        # the midpoint of each side of the cell is a wall exactly where there is no opening
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            other = (cell[0] + dr, cell[1] + dc)
            side_x, side_y = x + dc * s / 2, y + dr * s / 2
            expected = not (0 <= other[0] < maze.rows and 0 <= other[1] < maze.cols and maze.is_open(cell, other))
            assert wall_at(side_x, side_y) == expected, (cell, other, str(maze))
    # the outer boundary is closed all round
    x_min, y_min, x_max, y_max = maze.bounds_m
    for t in np.linspace(0.0, 1.0, 41):
        for x, y in ((x_min, y_min + t * (y_max - y_min)), (x_max, y_min + t * (y_max - y_min))):
            assert wall_at(x, y)
        for x, y in ((x_min + t * (x_max - x_min), y_min), (x_min + t * (x_max - x_min), y_max)):
            assert wall_at(x, y)


def test_walls_in_mujoco_stop_rays_where_the_maze_has_walls() -> None:
    maze = Maze.generate(2, rows=3, cols=3)
    spec = mujoco.MjSpec()
    for wall in maze.walls():
        spec.worldbody.add_geom(name=wall.name, type=mujoco.mjtGeom.mjGEOM_BOX, size=wall.size, pos=wall.position)
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    s, height = maze.cell_size_m, maze.wall_height_m / 2
    for cell in maze.cells:
        x, y = maze.cell_center(cell)
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            geom = np.array([-1], dtype=np.int32)
            distance = mujoco.mj_ray(model, data, [x, y, height], [dc, dr, 0.0], None, 1, -1, geom)
            wall_distance = s / 2 - maze.wall_thickness_m / 2
            other = (cell[0] + dr, cell[1] + dc)
            if other in maze.neighbours(cell):
                assert distance > wall_distance + 0.01  # through the opening into the next cell
            else:
                assert distance == pytest.approx(wall_distance, abs=1e-9)


def test_sample_goal_cell_respects_min_path_cells() -> None:
    maze = Maze.generate(4, rows=4, cols=4)
    rng = np.random.default_rng(0)
    goals = [maze.sample_goal_cell(rng, min_path_cells=3) for _ in range(300)]
    assert all(maze.path_length((0, 0), goal) >= 3 for goal in goals)
    eligible = {cell for cell, d in maze.distances_from((0, 0)).items() if d >= 3}
    assert set(goals) == eligible  # every eligible cell comes up
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [maze.sample_goal_cell(rng_a) for _ in range(10)] == [maze.sample_goal_cell(rng_b) for _ in range(10)]
    assert maze.sample_goal_cell(rng, 2, start=(3, 3)) != (3, 3)
    with pytest.raises(ValueError, match="lower min_path_cells"):
        maze.sample_goal_cell(rng, min_path_cells=maze.num_cells)


def test_text_and_top_view() -> None:
    maze = Maze.generate(6, rows=2, cols=3)
    text = str(maze).splitlines()
    assert len(text) == 2 * 2 + 1 and all(len(line) == 4 * 3 + 1 for line in text)
    image = render_top_view(maze, path_xy=[(0.0, 0.0), (0.6, 0.0)], visited=[(0, 0)], pixels_per_m=100)
    # bounds x -0.3..1.5, y -0.3..0.9, plus a wall thickness (0.04 m) of margin all round
    assert image.dtype == np.uint8 and image.shape == (128, 188, 3)
    start_row, start_col = 94, 34  # world (0, 0): +x right, +y up
    assert image[start_row, start_col, 2] > 200 > image[start_row, start_col, 0]  # the path's start dot
    assert image[start_row - 20, start_col, 0] > image[start_row - 20, start_col, 2] + 50  # visited tint
    assert image[2, 2].max() < 120  # the outer wall's corner
