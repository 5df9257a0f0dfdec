"""Helpers for nearest-grid search and metric distances used by the routing index (snapping)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyproj


def first_per_point(pi: np.ndarray, owner: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, ...]:
    """From (point, owner, distance) triples keep, per point, the nearest owner (ties: lowest id = code)."""
    order = np.lexsort((owner, d, pi))
    pi, owner, d = pi[order], owner[order], d[order]
    head = np.concatenate([[True], pi[1:] != pi[:-1]]) if len(pi) else np.zeros(0, bool)
    return pi[head], owner[head], d[head]


def outer_edges(ax, ay, bx, by, owner):
    """Drop the edges two grids share exactly (interior to the service area): an outside point's
    nearest grid is always reached through an edge on the outline."""
    swap = (ax > bx) | ((ax == bx) & (ay > by))
    k = np.column_stack([np.where(swap, bx, ax), np.where(swap, by, ay), np.where(swap, ax, bx), np.where(swap, ay, by)])
    _, inverse, counts = np.unique(k, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.ravel()] == 1
    return ax[once], ay[once], bx[once], by[once], owner[once]


@lru_cache(maxsize=16)
def metric_transformer(metric_crs: str) -> pyproj.Transformer:
    """EPSG:4326 → ``metric_crs`` (lon/lat order), created once per CRS: PROJ set-up is slow."""
    return pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)


def haversine_m(x1: float, y1: float, x2: float, y2: float) -> float:
    """Great-circle distance in metres between two lon/lat points (for points beyond any metric zone)."""
    p1, p2 = math.radians(y1), math.radians(y2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x2 - x1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))
