"""A regular grid over a set of polygons that answers "which polygon covers this point" in bulk.

Cells that lie strictly inside exactly one polygon answer by array lookup; cells that touch a
border or the coast hold a short list of candidate polygons and their points are tested exactly
(prepared `intersects_xy`). The answer is identical to testing every polygon in priority order,
which `exact_lookup` does and the tests compare against.
"""
from __future__ import annotations

import math

import numpy as np
import shapely

OUTSIDE = -1  # no polygon covers the point
_BOUNDARY = -2  # cell marker: test the cell's candidates exactly

# Cells are widened by this much (degrees) before the "strictly inside" test, so that a point
# whose floor() lands in the neighbouring cell through rounding is still covered by the test.
_CELL_PAD = 1e-9


def exact_lookup(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the first polygon (in array order) covering each point, OUTSIDE if none."""
    result = np.full(len(x), OUTSIDE, dtype=np.int32)
    for i, polygon in enumerate(polygons):
        todo = np.flatnonzero(result == OUTSIDE)
        if todo.size == 0:
            break
        hit = shapely.intersects_xy(polygon, x[todo], y[todo])
        result[todo[hit]] = i
    return result


class CellIndex:
    """Grid index over polygons ordered by priority (index 0 wins where polygons meet or overlap)."""

    def __init__(self, polygons: np.ndarray, cell_deg: float = 0.005) -> None:
        self.polygons = np.asarray(polygons, dtype=object)
        shapely.prepare(self.polygons)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons)
        self.cell_deg = cell_deg
        self.x0, self.y0 = float(minx), float(miny)
        self.nx = max(1, math.ceil((maxx - minx) / cell_deg))
        self.ny = max(1, math.ceil((maxy - miny) / cell_deg))
        self.cells, self.cand_ptr, self.cand = self._classify()

    def _classify(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.cell_deg
        ix, iy = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        ix, iy = ix.ravel(), iy.ravel()
        x0 = self.x0 + ix * d
        y0 = self.y0 + iy * d
        boxes = shapely.box(x0 - _CELL_PAD, y0 - _CELL_PAD, x0 + d + _CELL_PAD, y0 + d + _CELL_PAD)
        cell_ids, poly_ids = shapely.STRtree(self.polygons).query(boxes, predicate="intersects")
        order = np.lexsort((poly_ids, cell_ids))  # per cell, candidates in priority order
        cell_ids, poly_ids = cell_ids[order], poly_ids[order]
        n_cells = self.nx * self.ny
        counts = np.bincount(cell_ids, minlength=n_cells)
        cells = np.full(n_cells, OUTSIDE, dtype=np.int32)
        cells[counts > 1] = _BOUNDARY
        single = counts[cell_ids] == 1
        inside = shapely.contains_properly(self.polygons[poly_ids[single]], boxes[cell_ids[single]])
        cells[cell_ids[single]] = np.where(inside, poly_ids[single], _BOUNDARY)
        # Candidate lists (CSR) for boundary cells only; other cells get empty lists.
        keep = cells[cell_ids] == _BOUNDARY
        ptr = np.zeros(n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell_ids[keep], minlength=n_cells), out=ptr[1:])
        return cells, ptr, poly_ids[keep].astype(np.int32)

    @property
    def boundary_fraction(self) -> float:
        """Share of cells that need exact tests (for tuning `cell_deg`)."""
        return float(np.mean(self.cells == _BOUNDARY))

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the covering polygon for each (x, y); OUTSIDE where none covers it."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        fx = np.floor((x - self.x0) / self.cell_deg)
        fy = np.floor((y - self.y0) / self.cell_deg)
        on_grid = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        cell = np.where(on_grid, fy * self.nx + fx, 0).astype(np.int64)
        result = np.where(on_grid, self.cells[cell], OUTSIDE).astype(np.int32)
        todo = np.flatnonzero(result == _BOUNDARY)
        if todo.size:
            result[todo] = self._exact_in_cells(x[todo], y[todo], cell[todo])
        return result

    def _exact_in_cells(self, x: np.ndarray, y: np.ndarray, cell: np.ndarray) -> np.ndarray:
        start = self.cand_ptr[cell]
        count = self.cand_ptr[cell + 1] - start
        # Expand to one (point, candidate) pair per candidate of the point's cell.
        pair_point = np.repeat(np.arange(len(x)), count)
        first = np.repeat(np.cumsum(count) - count, count)
        pair_poly = self.cand[np.arange(len(pair_point)) - first + np.repeat(start, count)]
        hit = np.zeros(len(pair_point), dtype=bool)
        order = np.argsort(pair_poly, kind="stable")
        polys, splits = np.unique(pair_poly[order], return_index=True)
        for poly, sel in zip(polys, np.split(order, splits[1:])):
            pts = pair_point[sel]
            hit[sel] = shapely.intersects_xy(self.polygons[poly], x[pts], y[pts])
        best = np.full(len(x), np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(best, pair_point[hit], pair_poly[hit])
        best[best == np.iinfo(np.int32).max] = OUTSIDE
        return best
