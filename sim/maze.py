"""Procedurally generated mazes for the mobile-base tasks.

A :class:`Maze` is a grid of square cells with walls between some neighbours. It is generated
from a seed (a recursive-backtracker perfect maze, then a fraction of the remaining inner walls
knocked out so that there are loops) and built in either simulator as static boxes
(:meth:`Maze.walls`, for a :class:`sim.world.WorldLayout`).

Frame: the world origin is the centre of cell ``(0, 0)``, where the robot starts facing +x.
Cell ``(row, col)`` is centred at ``x = col * cell_size_m``, ``y = row * cell_size_m``: columns
run along +x, rows along +y.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim.world import WorldObject

Cell = tuple[int, int]
"""A cell as ``(row, col)``."""

_WALL_RGBA = (0.55, 0.45, 0.35, 1.0)


@dataclass(frozen=True)
class Maze:
    """A rectangular maze; build one with :meth:`generate`.

    :param rows: cells along +y. :param cols: cells along +x.
    :param cell_size_m: distance between neighbouring cell centres, m.
    :param wall_thickness_m: thickness of every wall, m.
    :param wall_height_m: height of every wall, m.
    :param openings: the open passages, each a pair of neighbouring cells (smaller first).
    :param seed: the seed it was generated from (``None`` if built by hand).
    """

    rows: int
    cols: int
    cell_size_m: float
    wall_thickness_m: float
    wall_height_m: float
    openings: frozenset[tuple[Cell, Cell]]
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"a maze needs at least one row and column, got {self.rows} x {self.cols}")
        if not 0 < self.wall_thickness_m < self.cell_size_m:
            raise ValueError(
                f"wall_thickness_m {self.wall_thickness_m} must be > 0 and below cell_size_m "
                f"{self.cell_size_m}, or walls would cover the cells; use thinner walls or bigger cells"
            )
        if self.wall_height_m <= 0:
            raise ValueError(f"wall_height_m must be > 0, got {self.wall_height_m}")
        for a, b in self.openings:
            if not (self._inside(a) and self._inside(b) and abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 and a < b):
                raise ValueError(f"opening {(a, b)} is not a pair of neighbouring cells (smaller first) of the maze")

    @classmethod
    def generate(
        cls,
        seed: int,
        rows: int = 4,
        cols: int = 4,
        cell_size_m: float = 0.6,
        wall_thickness_m: float = 0.04,
        wall_height_m: float = 0.2,
        extra_openings: float = 0.15,
    ) -> Maze:
        """A random maze in which every cell is reachable from every other.

        A recursive backtracker carves a perfect maze (exactly one path between any two cells)
        from ``np.random.default_rng(seed)``; then ``extra_openings`` of the inner walls still
        standing are removed, which adds loops (more than one way to a goal).

        :param seed: the same seed gives the same maze.
        :param rows: cells along +y. :param cols: cells along +x.
        :param cell_size_m: distance between neighbouring cell centres, m.
        :param wall_thickness_m: m. :param wall_height_m: m.
        :param extra_openings: fraction (0 to 1) of the remaining inner walls to remove.
        """
        if not 0.0 <= extra_openings <= 1.0:
            raise ValueError(f"extra_openings is a fraction of the walls, 0 to 1; got {extra_openings}")
        rng = np.random.default_rng(seed)
        openings: set[tuple[Cell, Cell]] = set()
        visited = {(0, 0)}
        stack: list[Cell] = [(0, 0)]
        while stack:
            cell = stack[-1]
            unvisited = [n for n in _grid_neighbours(cell, rows, cols) if n not in visited]
            if not unvisited:
                stack.pop()
                continue
            nxt = unvisited[int(rng.integers(len(unvisited)))]
            openings.add(_edge(cell, nxt))
            visited.add(nxt)
            stack.append(nxt)
        closed = sorted(_all_inner_edges(rows, cols) - openings)
        count = round(extra_openings * len(closed))
        for index in rng.choice(len(closed), size=count, replace=False):
            openings.add(closed[int(index)])
        return cls(rows, cols, cell_size_m, wall_thickness_m, wall_height_m, frozenset(openings), seed)

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell, row by row."""
        return tuple((r, c) for r in range(self.rows) for c in range(self.cols))

    @property
    def num_cells(self) -> int:
        return self.rows * self.cols

    @property
    def bounds_m(self) -> tuple[float, float, float, float]:
        """The inside of the outer wall: ``x_min, y_min, x_max, y_max``, m."""
        half = self.cell_size_m / 2
        return (-half, -half, (self.cols - 0.5) * self.cell_size_m, (self.rows - 0.5) * self.cell_size_m)

    def cell_center(self, cell: Cell) -> tuple[float, float]:
        """World ``x, y`` of a cell's centre, m."""
        self._check(cell)
        return (cell[1] * self.cell_size_m, cell[0] * self.cell_size_m)

    def cell_of(self, x_m: float, y_m: float) -> Cell | None:
        """The cell containing the world point ``x_m, y_m``; ``None`` outside the maze."""
        col, row = round(x_m / self.cell_size_m), round(y_m / self.cell_size_m)
        return (row, col) if self._inside((row, col)) else None

    def is_open(self, a: Cell, b: Cell) -> bool:
        """Whether there is a passage (no wall) between neighbouring cells ``a`` and ``b``."""
        return _edge(a, b) in self.openings

    def neighbours(self, cell: Cell) -> tuple[Cell, ...]:
        """The cells reachable from ``cell`` in one move (through an opening)."""
        self._check(cell)
        return tuple(n for n in _grid_neighbours(cell, self.rows, self.cols) if _edge(cell, n) in self.openings)

    def distances_from(self, start: Cell) -> dict[Cell, int]:
        """Breadth-first number of moves from ``start`` to every reachable cell."""
        self._check(start)
        distance = {start: 0}
        queue = deque([start])
        while queue:
            cell = queue.popleft()
            for n in self.neighbours(cell):
                if n not in distance:
                    distance[n] = distance[cell] + 1
                    queue.append(n)
        return distance

    def path_length(self, a: Cell, b: Cell) -> int:
        """Fewest moves from cell ``a`` to cell ``b`` (0 for the same cell).

        :raises ValueError: ``b`` cannot be reached from ``a`` (never for a generated maze).
        """
        self._check(b)
        distance = self.distances_from(a)
        if b not in distance:
            raise ValueError(f"cell {b} cannot be reached from {a} in this maze")
        return distance[b]

    def shortest_path(self, a: Cell, b: Cell) -> tuple[Cell, ...]:
        """Cells of one shortest path from ``a`` to ``b``, both included."""
        distance = self.distances_from(b)
        if a not in distance:
            raise ValueError(f"cell {b} cannot be reached from {a} in this maze")
        path = [a]
        while path[-1] != b:
            path.append(min(self.neighbours(path[-1]), key=lambda n: distance.get(n, self.num_cells)))
        return tuple(path)

    def sample_goal_cell(self, rng: np.random.Generator, min_path_cells: int = 2, *, start: Cell = (0, 0)) -> Cell:
        """A cell drawn uniformly among those at least ``min_path_cells`` moves from ``start``.

        :raises ValueError: no cell is that far; ask for fewer moves or a bigger maze.
        """
        far = [cell for cell, moves in sorted(self.distances_from(start).items()) if moves >= min_path_cells]
        if not far:
            raise ValueError(
                f"no cell of this {self.rows} x {self.cols} maze is {min_path_cells} moves from {start}; "
                "lower min_path_cells or generate a bigger maze"
            )
        return far[int(rng.integers(len(far)))]

    def walls(self) -> tuple[WorldObject, ...]:
        """Static boxes (``wall_0``, ``wall_1``, ...): the outer boundary, then the inner walls.

        Collinear neighbouring wall segments are merged into one box (fewer geoms to simulate
        and ray-cast); every box reaches half a thickness past its ends so that corners close.
        """
        s, t = self.cell_size_m, self.wall_thickness_m
        segments: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 of wall centrelines
        # Walls between row r and r + 1 (r = -1 and rows - 1: the boundary) run along x.
        for r in range(-1, self.rows):
            closed = [r in (-1, self.rows - 1) or not self.is_open((r, c), (r + 1, c)) for c in range(self.cols)]
            for first, last in _runs(closed):
                segments.append(((first - 0.5) * s, (r + 0.5) * s, (last + 0.5) * s, (r + 0.5) * s))
        # Walls between column c and c + 1 run along y.
        for c in range(-1, self.cols):
            closed = [c in (-1, self.cols - 1) or not self.is_open((r, c), (r, c + 1)) for r in range(self.rows)]
            for first, last in _runs(closed):
                segments.append(((c + 0.5) * s, (first - 0.5) * s, (c + 0.5) * s, (last + 0.5) * s))
        boxes = []
        height = self.wall_height_m / 2
        for i, (x0, y0, x1, y1) in enumerate(segments):
            half = ((x1 - x0 + t) / 2, t / 2, height) if y0 == y1 else (t / 2, (y1 - y0 + t) / 2, height)
            boxes.append(
                WorldObject(
                    name=f"wall_{i}",
                    shape="box",
                    size=half,
                    position=((x0 + x1) / 2, (y0 + y1) / 2, height),
                    rgba=_WALL_RGBA,
                )
            )
        return tuple(boxes)

    def __str__(self) -> str:
        """The maze as text, row ``rows - 1`` at the top (+y up, +x right), as seen from above."""
        lines = ["+" + "---+" * self.cols]
        for r in reversed(range(self.rows)):
            middle = "|"
            for c in range(self.cols):
                middle += "   " + (" " if c + 1 < self.cols and self.is_open((r, c), (r, c + 1)) else "|")
            lines.append(middle)
            below = "+"
            for c in range(self.cols):
                below += ("   " if r > 0 and self.is_open((r - 1, c), (r, c)) else "---") + "+"
            lines.append(below)
        return "\n".join(lines)

    def _inside(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.rows and 0 <= cell[1] < self.cols

    def _check(self, cell: Cell) -> None:
        if not self._inside(cell):
            raise ValueError(f"cell {cell} is outside the {self.rows} x {self.cols} maze (rows, cols from 0)")


def render_top_view(
    maze: Maze,
    path_xy: Sequence[Sequence[float]] | NDArray[np.float64] | None = None,
    visited: Iterable[Cell] | None = None,
    *,
    pixels_per_m: float = 200.0,
) -> NDArray[np.uint8]:
    """A top-down picture of the maze: RGB, ``height x width x 3``, +x right and +y up.

    :param path_xy: a driven path, world ``x, y`` points, m; drawn as a blue line, its start a dot.
    :param visited: cells to tint (e.g. the ones an episode entered).
    :param pixels_per_m: scale.
    """
    from PIL import Image, ImageDraw

    x_min, y_min, x_max, y_max = maze.bounds_m
    margin = maze.wall_thickness_m
    width = round((x_max - x_min + 2 * margin) * pixels_per_m)
    height = round((y_max - y_min + 2 * margin) * pixels_per_m)

    def pixel(x: float, y: float) -> tuple[float, float]:
        return ((x - x_min + margin) * pixels_per_m, (y_max + margin - y) * pixels_per_m)

    image = Image.new("RGB", (width, height), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    half = maze.cell_size_m / 2
    for cell in visited or ():
        x, y = maze.cell_center(cell)
        draw.rectangle([pixel(x - half, y + half), pixel(x + half, y - half)], fill=(255, 226, 170))
    for wall in maze.walls():
        (x, y, _), (hx, hy, _) = wall.position, wall.size
        draw.rectangle([pixel(x - hx, y + hy), pixel(x + hx, y - hy)], fill=(90, 75, 60))
    if path_xy is not None and len(path_xy) > 0:
        points = [pixel(float(p[0]), float(p[1])) for p in path_xy]
        if len(points) > 1:
            draw.line(points, fill=(40, 90, 220), width=max(1, round(0.02 * pixels_per_m)))
        radius = 0.04 * pixels_per_m
        x, y = points[0]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(40, 90, 220))
    return np.asarray(image, dtype=np.uint8)


def _edge(a: Cell, b: Cell) -> tuple[Cell, Cell]:
    return (a, b) if a < b else (b, a)


def _grid_neighbours(cell: Cell, rows: int, cols: int) -> list[Cell]:
    """Cells next to ``cell`` in the grid, walls or not, in the fixed order +x, +y, -x, -y."""
    r, c = cell
    candidates = [(r, c + 1), (r + 1, c), (r, c - 1), (r - 1, c)]
    return [(nr, nc) for nr, nc in candidates if 0 <= nr < rows and 0 <= nc < cols]


def _all_inner_edges(rows: int, cols: int) -> set[tuple[Cell, Cell]]:
    edges = {((r, c), (r, c + 1)) for r in range(rows) for c in range(cols - 1)}
    return edges | {((r, c), (r + 1, c)) for r in range(rows - 1) for c in range(cols)}


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """``(first, last)`` index of every run of consecutive ``True`` values."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs
