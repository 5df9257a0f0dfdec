"""Which county (the first 6 digits of every code) a point belongs to, for routing pools.

A routing pool (``gridgis serve --counties …``) holds the full routing index of a few counties
only; the front (nginx) and the pools themselves must agree on which county answers a point, and
that county must be the one a single server holding every county would answer with. So the rule
mirrors :meth:`gridgis.routing.RoutingIndex.route`'s choice of grid:

- a point covered by grids → the county of the lowest-coded covering grid (a point exactly on a
  county border goes to the lower county code);
- outside every grid → the county of the nearest grid (any distance: within the snap tolerance the
  pool snaps it, beyond it the pool answers "outside the service area" naming that nearest grid),
  measured in the same metric CRS as the routing index (ties: lowest code);
- coordinates that are not finite or out of range → ``None`` (any pool answers the 422).

:class:`CountyLocator` needs only the grids of every county (a province: ~10⁵ polygons, a few
seconds and tens of MB), not their micro-grids, compounds or buildings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import shapely

from gridgis.codes import check_county, county_of, under_prefixes
from gridgis.crs import ensure_storage_crs, metric_crs_for, parse_crs, points_to_storage
from gridgis.routing.cells import CellLocator


def parse_counties(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """``"310115,310104"`` (or a list) as a set of checked county codes; empty or None → None (all)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    found = frozenset(check_county(v.strip()) for v in items if v and v.strip())
    return found or None


def in_counties(codes: Iterable[object], counties: frozenset[str]) -> np.ndarray:
    """A boolean mask: which codes lie under one of ``counties`` (missing codes are False).

    The county of a code is its first 6 digits (:func:`gridgis.codes.county_of`), so this is the
    prefix rule of :func:`gridgis.codes.under_prefixes` — the rule the store applies in SQL for
    ``read_layer(code_prefixes=counties)``.
    """
    return under_prefixes(codes, counties)


def filter_counties(frame: gpd.GeoDataFrame, counties: frozenset[str] | None) -> gpd.GeoDataFrame:
    """The rows of a layer frame whose ``code`` lies under one of ``counties`` (all rows for None).

    What ``repository.read_layer(layer, code_prefixes=counties)`` reads in one query; this is for
    frames already in memory (the grids a pool also needs whole, for its :class:`CountyLocator`).
    """
    if counties is None or len(frame) == 0:
        return frame
    return frame[in_counties(frame["code"], counties)]


class CountyLocator:
    """The county of points (see the module docstring for the rule). Build with :meth:`build`."""

    def __init__(self, grids: gpd.GeoDataFrame) -> None:
        grids = ensure_storage_crs(grids, "grids").sort_values("code", kind="stable")
        self.codes = np.asarray(grids["code"], dtype=object)
        self.county = np.array([county_of(c) for c in self.codes], dtype=object)
        geoms = np.asarray(grids.geometry.values)
        self.tree = shapely.STRtree(geoms)
        # the exact cell raster of the routing index (lowest covering id = lowest code: rows are sorted)
        self.cells = CellLocator.build(geoms, max_cells=2_000_000)
        self.metric_crs = metric_crs_for(grids) if len(grids) else "EPSG:4326"
        metric = gpd.GeoSeries(geoms, crs=grids.crs).to_crs(self.metric_crs)
        self.metric_tree = shapely.STRtree(np.asarray(metric.values))
        from gridgis.routing.index import metric_transformer

        self._to_metric = metric_transformer(self.metric_crs)

    @classmethod
    def build(cls, grids: gpd.GeoDataFrame) -> CountyLocator:
        return cls(grids)

    @property
    def counties(self) -> list[str]:
        return sorted(set(self.county))

    def locate_many(self, lon, lat, crs: str = "wgs84") -> np.ndarray:
        """County code per point (``None`` where the coordinates are invalid), as an object array."""
        x = np.asarray(lon, dtype=float)
        y = np.asarray(lat, dtype=float)
        out = np.full(len(x), None, dtype=object)
        if len(x) == 0 or len(self.codes) == 0:
            return out
        if crs != "wgs84":
            src = parse_crs(crs)
            with np.errstate(invalid="ignore"):
                x, y = (np.asarray(v, dtype=float) for v in points_to_storage(x, y, src))
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)
        rows = np.flatnonzero(ok)
        if len(rows) == 0:
            return out
        best = np.asarray(self.cells.covering(x[rows], y[rows])[0], dtype=np.int64)
        outside = np.flatnonzero(best < 0)
        if len(outside):
            mx, my = self._to_metric.transform(x[rows[outside]], y[rows[outside]])
            mx, my = np.asarray(mx, dtype=float), np.asarray(my, dtype=float)
            finite = np.isfinite(mx) & np.isfinite(my)
            near = np.full(len(outside), -1, dtype=np.int64)
            if finite.any():
                qi, ti = self.metric_tree.query_nearest(shapely.points(mx[finite], my[finite]), all_matches=True)
                order = np.lexsort((ti, qi))
                qi, ti = qi[order], ti[order]
                first = np.r_[True, qi[1:] != qi[:-1]]
                near[np.flatnonzero(finite)[qi[first]]] = ti[first]
            for k in np.flatnonzero(~finite):  # far beyond the metric zone: nearest in degrees
                near[k] = int(self.tree.query_nearest(shapely.Point(x[rows[outside[k]]], y[rows[outside[k]]])).min())
            best[outside] = near
        found = best >= 0
        out[rows[found]] = self.county[best[found]]
        return out

    def locate(self, lon: float, lat: float, crs: str = "wgs84") -> str | None:
        """The county of one point, or ``None`` for invalid coordinates."""
        try:
            x, y = float(lon), float(lat)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        return self.locate_many([x], [y], crs)[0]
