"""Snapping a client's geometry back onto stored vertices before it is validated.

Desktop GIS clients write coordinates with fewer decimals than the store keeps: QGIS's
GeoJSON exporter writes 6 decimals of a degree (≈ 5–7 cm), so a feature saved after an
attribute change comes back with every vertex moved a few centimetres, shared edges no
longer shared, and validation reports slivers of gap and overlap that nobody drew.

The rule (one place, called by every feature write of the API): each vertex of the written
geometry that lies within ``tolerance_m`` metres of a stored vertex — of the feature itself,
of its neighbours in the same layer, or of its parent — is moved exactly onto the nearest one;
vertices farther than that are kept as sent (a real edit). Consecutive vertices that land on
the same point are merged. A vertex moved by less than the tolerance is therefore taken back:
the tolerance (``GRIDGIS_EDIT_SNAP_TOLERANCE_M``, 0.5 m by default) is the smallest edit a
client can make. Pure functions on shapely geometries (EPSG:4326) plus one reader of the store.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from gridgis.errors import NotFoundError
from gridgis.layers import get_spec

#: metres per degree of latitude (and of longitude at the equator), close enough for a tolerance
_M_PER_DEG = 111_320.0


def _scale(lat: float) -> np.ndarray:
    return np.array([_M_PER_DEG * math.cos(math.radians(lat)), _M_PER_DEG])


def snap_vertices(geometry: shapely.Geometry, reference: np.ndarray, tolerance_m: float) -> shapely.Geometry:
    """``geometry`` with each vertex within ``tolerance_m`` of a ``reference`` vertex moved onto the nearest.

    ``reference`` is an ``(n, 2)`` array of lon/lat. Repeated consecutive vertices are merged.

    >>> from shapely.geometry import Polygon
    >>> ref = np.array([[116.4, 39.9], [116.41, 39.9], [116.41, 39.91], [116.4, 39.91]])
    >>> sent = Polygon([(116.4000001, 39.9), (116.41, 39.8999999), (116.41, 39.91), (116.4, 39.91)])
    >>> list(snap_vertices(sent, ref, 0.5).exterior.coords)[:2]
    [(116.4, 39.9), (116.41, 39.9)]
    >>> snap_vertices(sent, ref, 0.001).equals_exact(sent, 0)  # 1 mm: nothing within reach
    True
    """
    if geometry is None or geometry.is_empty or tolerance_m <= 0 or len(reference) == 0:
        return geometry
    coords = shapely.get_coordinates(geometry)
    scale = _scale(float(np.mean(coords[:, 1])))
    tree = shapely.STRtree(shapely.points(np.asarray(reference, dtype=float) * scale))
    hits = tree.query_nearest(shapely.points(coords * scale), max_distance=tolerance_m, all_matches=False)
    if hits.shape[1] == 0:
        return geometry
    snapped = coords.copy()
    snapped[hits[0]] = np.asarray(reference, dtype=float)[hits[1]]
    out = shapely.transform(geometry, lambda _xy: snapped)
    return shapely.remove_repeated_points(out, tolerance=0.0)


def reference_vertices(repository: Any, layer: str, code: str | None, geometry: shapely.Geometry) -> np.ndarray:
    """The stored vertices a written geometry of ``layer`` may snap to: the feature's own (when it
    exists), its neighbours' in the same layer and its parent layer's, around ``geometry``."""
    if geometry is None or geometry.is_empty:
        return np.empty((0, 2))
    spec = get_spec(layer)
    minx, miny, maxx, maxy = geometry.bounds
    pad = 5.0 / _M_PER_DEG  # a few metres around: the tolerance is far smaller
    box = (minx - 2 * pad, miny - pad, maxx + 2 * pad, maxy + pad)
    parts: list[np.ndarray] = []
    if code is not None:
        try:
            parts.append(shapely.get_coordinates(repository.get_feature(layer, code)["geometry"]))
        except NotFoundError:
            pass
    for other in dict.fromkeys([layer, spec.parent_layer]):
        if other is None:
            continue
        frame = repository.read_layer(other, bbox=box)
        if len(frame):
            parts.append(shapely.get_coordinates(np.asarray(frame.geometry.values)))
    return np.concatenate(parts) if parts else np.empty((0, 2))


def snap_to_stored(
    repository: Any, layer: str, code: str | None, geometry: shapely.Geometry | None, tolerance_m: float
) -> shapely.Geometry | None:
    """:func:`snap_vertices` of ``geometry`` onto :func:`reference_vertices` (see the module doc)."""
    if geometry is None or tolerance_m <= 0:
        return geometry
    return snap_vertices(geometry, reference_vertices(repository, layer, code, geometry), tolerance_m)
