"""Compactness of grids: the Polsby–Popper score 4πA/P² (1 for a disc, about 0.785 for a square).

Used to check that a proposal does not trade compact grids for ragged ones.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

from gridgis.alignment._frames import metric, require_frame


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """4πA/P² of every polygon (metric CRS); 0 for an empty geometry.

    Examples
    --------
    >>> import shapely
    >>> round(float(polsby_popper([shapely.box(0, 0, 10, 10)])[0]), 3)
    0.785
    """
    geoms = np.asarray(geoms, dtype=object)
    a = shapely.area(geoms)
    p = shapely.length(geoms)
    return np.where(p > 0, 4.0 * math.pi * a / np.maximum(p, 1e-12) ** 2, 0.0)


def compactness_summary(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, crs: str) -> dict[str, float]:
    """Median and mean Polsby–Popper of two grid layers (EPSG:4326) measured in ``crs``, and the
    ratio of the medians (after / before; the target is at least 0.8)."""
    before = require_frame(before, "grids before")
    after = require_frame(after, "grids after")
    b = polsby_popper(metric(before, crs)) if len(before) else np.zeros(0)
    a = polsby_popper(metric(after, crs)) if len(after) else np.zeros(0)
    mb = float(np.median(b)) if len(b) else 0.0
    ma = float(np.median(a)) if len(a) else 0.0
    return {
        "median_before": round(mb, 4),
        "median_after": round(ma, 4),
        "mean_before": round(float(b.mean()) if len(b) else 0.0, 4),
        "mean_after": round(float(a.mean()) if len(a) else 0.0, 4),
        "median_ratio": round(ma / mb, 4) if mb > 0 else 0.0,
    }
