"""The coverage invariant every alignment step keeps: grids tile their area exactly.

:func:`validate_coverage` runs on the input and the output of every step and returns a
:class:`CoverageReport` a planner can act on (where the gaps and overlaps are, how large).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridgis.alignment._frames import metric, polygonal, require_frame, to_storage_series
from gridgis.crs import metric_crs_for
from gridgis.errors import Problem


@dataclass
class CoverageReport:
    """Diagnostics of a set of grids against the area they should tile.

    ``gaps`` and ``overlaps`` are lists of ``{"area_m2", "grids", "where", "geometry"}``
    (geometry in EPSG:4326); ``invalid_edges`` lists ``{"grid", "length_m", "geometry"}`` from
    GEOS ``coverage_invalid_edges`` (edges that do not match their neighbour exactly).
    """

    coverage_valid: bool
    area_m2: float
    union_area_m2: float
    difference_m2: float
    tolerance_m2: float
    gaps: list[dict[str, Any]] = field(default_factory=list)
    overlaps: list[dict[str, Any]] = field(default_factory=list)
    invalid_edges: list[dict[str, Any]] = field(default_factory=list)
    outside: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the grids are a valid coverage with no gap or overlap and the union equals the area."""
        return (
            self.coverage_valid
            and not self.gaps
            and not self.overlaps
            and not self.outside
            and self.difference_m2 <= self.tolerance_m2
        )

    def problems(self) -> list[Problem]:
        """Every defect as a located :class:`~gridgis.errors.Problem`."""
        out = []
        for g in self.gaps:
            out.append(
                Problem(
                    f"gap of {g['area_m2']:.1f} m² not covered by any grid (next to {g['grids']})",
                    layer="grids",
                    kind="coverage_gap",
                    where=g["where"],
                )
            )
        for o in self.overlaps:
            out.append(
                Problem(
                    f"grids {o['grids']} overlap by {o['area_m2']:.1f} m²",
                    layer="grids",
                    feature=o["grids"][0],
                    kind="coverage_overlap",
                    where=o["where"],
                )
            )
        for o in self.outside:
            out.append(
                Problem(
                    f"grid {o['grids'][0]} reaches {o['area_m2']:.1f} m² outside its area",
                    layer="grids",
                    feature=o["grids"][0],
                    kind="outside_area",
                    where=o["where"],
                )
            )
        for e in self.invalid_edges:
            out.append(
                Problem(
                    f"edges of length {e['length_m']:.2f} m do not match the neighbouring grid "
                    "exactly (snap them to the shared boundary)",
                    layer="grids",
                    feature=e["grid"],
                    kind="coverage_invalid_edge",
                    where=e["where"],
                )
            )
        return out

    def to_dict(self, geometry: bool = False) -> dict[str, Any]:
        """JSON-ready summary (geometries only when ``geometry``)."""

        def strip(items):
            return [
                {
                    k: (v.__geo_interface__ if k == "geometry" else v)
                    for k, v in it.items()
                    if geometry or k != "geometry"
                }
                for it in items
            ]

        return {
            "ok": self.ok,
            "coverage_valid": self.coverage_valid,
            "area_m2": round(self.area_m2, 3),
            "union_area_m2": round(self.union_area_m2, 3),
            "difference_m2": round(self.difference_m2, 3),
            "tolerance_m2": self.tolerance_m2,
            "gaps": strip(self.gaps),
            "overlaps": strip(self.overlaps),
            "outside": strip(self.outside),
            "invalid_edges": strip(self.invalid_edges),
        }


def _items(geoms: np.ndarray, names: list, tolerance: float, crs: str) -> list[dict[str, Any]]:
    out = []
    if not len(geoms):
        return out
    areas = shapely.area(geoms)
    keep = areas > tolerance
    if not keep.any():
        return out
    geoms, areas = geoms[keep], areas[keep]
    names = [n for n, k in zip(names, keep) if k]
    storage = to_storage_series(geoms, crs)
    points = storage.representative_point()
    for geom, a, n, p in zip(storage.values, areas, names, points.values):
        out.append(
            {"area_m2": round(float(a), 3), "grids": n, "where": (round(p.x, 7), round(p.y, 7)), "geometry": geom}
        )
    return out


def validate_coverage(
    grids: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame | shapely.Geometry | None = None,
    tolerance_m2: float = 1.0,
    metric_crs: str | None = None,
) -> CoverageReport:
    """Check that ``grids`` are an exact coverage of ``area``.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids in EPSG:4326 with a ``code`` column.
    area : GeoDataFrame, shapely geometry (EPSG:4326) or None
        The area to tile (e.g. the community). ``None``: the union of the grids, so only holes
        inside it count as gaps.
    tolerance_m2 : float
        Gaps, overlaps and the union/area difference up to this many m² are accepted.

    Returns
    -------
    CoverageReport

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[shapely.box(116.0, 39.9, 116.001, 39.901),
    ...     shapely.box(116.001, 39.9, 116.002, 39.901)], crs="EPSG:4326")
    >>> validate_coverage(g, shapely.box(116.0, 39.9, 116.002, 39.901)).ok
    True
    """
    grids = require_frame(grids, "grids")
    crs = metric_crs or (metric_crs_for(grids) if len(grids) else "EPSG:4548")
    geoms = metric(grids, crs) if len(grids) else np.array([], dtype=object)
    codes = [str(c) for c in grids["code"]]
    nonempty = ~shapely.is_empty(geoms)
    geoms_ne = geoms[nonempty]
    codes_ne = [c for c, k in zip(codes, nonempty) if k]
    valid = bool(shapely.coverage_is_valid(geoms_ne)) if len(geoms_ne) else True
    invalid = []
    if not valid:
        edges = shapely.coverage_invalid_edges(geoms_ne)
        lengths = shapely.length(edges)
        for code, edge, length in zip(codes_ne, edges, lengths):
            if length > 0:
                p = to_storage_series([shapely.line_interpolate_point(edge, 0.5, normalized=True)], crs).iloc[0]
                invalid.append(
                    {
                        "grid": code,
                        "length_m": round(float(length), 3),
                        "where": (p.x, p.y),
                        "geometry": to_storage_series([edge], crs).iloc[0],
                    }
                )
    if not len(geoms_ne):
        union = shapely.Polygon()
    elif valid:
        union = shapely.coverage_union_all(geoms_ne)
    else:
        union = shapely.union_all(geoms_ne)
    if area is None:
        target = (
            shapely.Polygon()
            if union.is_empty
            else shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(union)])
        )
    else:
        if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
            area_m = polygonal(
                gpd.GeoSeries(area.geometry if isinstance(area, gpd.GeoDataFrame) else area).to_crs(crs).values
            )
            target = shapely.union_all(area_m)
        else:
            target = polygonal(gpd.GeoSeries([area], crs="EPSG:4326").to_crs(crs).values)[0]
    tree = shapely.STRtree(geoms_ne)
    gap_parts = shapely.get_parts(shapely.difference(target, union)) if not target.is_empty else np.array([])
    gap_names = [sorted(codes_ne[j] for j in tree.query(g, predicate="intersects")) for g in gap_parts]
    out_parts = shapely.get_parts(shapely.difference(union, target)) if area is not None else np.array([])
    out_names = [sorted(codes_ne[j] for j in tree.query(g, predicate="intersects")) for g in out_parts]
    left, right = tree.query(geoms_ne, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    inter = shapely.intersection(geoms_ne[left], geoms_ne[right]) if len(left) else np.array([], dtype=object)
    has_area = shapely.area(inter) > 0 if len(inter) else np.zeros(0, bool)
    inter = polygonal(inter[has_area]) if has_area.any() else np.array([], dtype=object)
    over_names = [[codes_ne[i], codes_ne[j]] for i, j in zip(left[has_area], right[has_area])]
    area_t = float(shapely.area(target))
    union_a = float(shapely.area(union))
    diff = float(shapely.area(shapely.symmetric_difference(union, target))) if area is not None else 0.0
    return CoverageReport(
        coverage_valid=valid,
        area_m2=area_t,
        union_area_m2=union_a,
        difference_m2=diff,
        tolerance_m2=tolerance_m2,
        gaps=_items(np.asarray(gap_parts, dtype=object), gap_names, tolerance_m2, crs),
        overlaps=_items(np.asarray(inter, dtype=object), over_names, tolerance_m2, crs),
        invalid_edges=invalid,
        outside=_items(np.asarray(out_parts, dtype=object), out_names, tolerance_m2, crs),
    )
