"""The coverage invariant every alignment step keeps: grids tile their area exactly.

:func:`validate_coverage` runs on the input and the output of every step and returns a
:class:`CoverageReport` a planner can act on (where the gaps and overlaps are, how large). It
applies the one coverage rule, :func:`gridgis.layers.coverage.check_coverage`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from gridgis.alignment._frames import polygonal, require_frame
from gridgis.crs import ensure_storage_crs, metric_crs_for
from gridgis.errors import Problem
from gridgis.layers.coverage import TOLERANCE_M2, CoverageCheck, CoverageIssue, check_coverage


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


def _item(issue: CoverageIssue) -> dict[str, Any]:
    return {
        "area_m2": round(issue.measure, 3),
        "grids": list(issue.codes),
        "where": issue.where,
        "geometry": issue.geometry,
    }


def validate_coverage(
    grids: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame | shapely.Geometry | None = None,
    tolerance_m2: float = TOLERANCE_M2,
    metric_crs: str | None = None,
) -> CoverageReport:
    """Check that ``grids`` are an exact coverage of ``area`` by the one coverage rule.

    A thin view of :func:`gridgis.layers.coverage.check_coverage` (the rule ``gridgis check`` and
    the commit check of every edit apply too): GEOS coverage validity of the grids as given
    (EPSG:4326), gap/overlap/outside parts from :data:`~gridgis.layers.coverage.MIN_AREA_M2` up,
    and the union within ``tolerance_m2`` of the area.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids in EPSG:4326 with a ``code`` column.
    area : GeoDataFrame, shapely geometry (EPSG:4326) or None
        The area to tile (e.g. the community). ``None``: the union of the grids, so only holes
        inside it count as gaps.
    tolerance_m2 : float
        The union may differ from the area by this many m².

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
    key = _fingerprint(grids, area, crs)
    found = _recall(key)
    if found is None:
        found = _check(grids, area, crs, tolerance_m2)
        _remember(key, found)
    invalid = [
        {"grid": i.codes[0], "length_m": round(i.measure, 3), "where": i.where, "geometry": i.geometry}
        for i in found.of_kind("coverage_edge")
    ]
    outside = [_item(i) for i in found.of_kind("coverage_outside")] if area is not None else []
    return CoverageReport(
        coverage_valid=found.valid,
        area_m2=found.parent_area_m2,
        union_area_m2=found.union_area_m2,
        difference_m2=found.difference_m2 if area is not None else 0.0,
        tolerance_m2=tolerance_m2,
        gaps=[_item(i) for i in found.of_kind("coverage_gap")],
        overlaps=[_item(i) for i in found.of_kind("coverage_overlap")],
        invalid_edges=invalid,
        outside=outside,
    )


#: the last few checks, by a digest of what they checked (analysing and then proposing checks the
#: same grids against the same communities twice; a whole city takes a second)
_CHECKED: OrderedDict[bytes, CoverageCheck] = OrderedDict()
_CHECKED_LOCK = threading.Lock()
_CHECKED_MAX = 4


def _fingerprint(grids: gpd.GeoDataFrame, area: Any, crs: str) -> bytes:
    """A digest of the grids (codes and geometries as stored), the area and the CRS."""
    h = hashlib.blake2b(digest_size=20)
    h.update(crs.encode())
    h.update("\x00".join(str(c) for c in grids["code"]).encode())
    h.update(b"\x01")
    for wkb in shapely.to_wkb(np.asarray(grids.geometry.values, dtype=object)):
        h.update(b"-" if wkb is None else wkb)
    h.update(b"\x02")
    if area is None:
        h.update(b"none")
    elif isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        series = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        h.update(str(series.crs).encode())
        for wkb in shapely.to_wkb(np.asarray(series.values, dtype=object)):
            h.update(b"-" if wkb is None else wkb)
    else:
        h.update(b"geom" + (shapely.to_wkb(area) or b""))
    return h.digest()


def _recall(key: bytes) -> CoverageCheck | None:
    with _CHECKED_LOCK:
        found = _CHECKED.get(key)
        if found is not None:
            _CHECKED.move_to_end(key)
        return found


def _remember(key: bytes, found: CoverageCheck) -> None:
    with _CHECKED_LOCK:
        _CHECKED[key] = found
        while len(_CHECKED) > _CHECKED_MAX:
            _CHECKED.popitem(last=False)


def _check(grids: gpd.GeoDataFrame, area: Any, crs: str, tolerance_m2: float) -> CoverageCheck:
    stored = polygonal(grids.geometry.values) if len(grids) else np.array([], dtype=object)
    codes = [str(c) for c in grids["code"]]
    if area is None:
        nonempty = stored[~shapely.is_empty(stored)] if len(stored) else stored
        union = shapely.union_all(nonempty) if len(nonempty) else shapely.Polygon()
        target = (
            shapely.Polygon()
            if union.is_empty
            else shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(union)])
        )
    elif isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        series = gpd.GeoSeries(area.geometry if isinstance(area, gpd.GeoDataFrame) else area)
        target = shapely.union_all(polygonal(ensure_storage_crs(series.to_frame("geometry"), "area").geometry.values))
    else:
        target = polygonal(np.array([area], dtype=object))[0]
    return check_coverage(stored, codes, target, metric_crs=crs, tolerance_m2=tolerance_m2)
