"""The routing index: point → micro-grid, grid, community, street, compound and building.

Built once per boundary generation from the layer frames (EPSG:4326) and kept in memory:
one exact :class:`~gridgis.routing.cells.CellLocator` each for micro-grids, grids, compounds and
buildings. Communities and streets follow from the grid's code (codes prefix their parents,
see :mod:`gridgis.codes`); where a grid has no micro-grids (or a gap between them) the point
is routed to the grid alone.

Tie rule on shared boundaries (deterministic)
---------------------------------------------
A point exactly on an edge shared by several micro-grids (or grids) is covered by all of them.
It goes to

1. the micro-grid (grid) whose grid *owns the compound* that contains the point, where a
   compound is owned by the grid holding the largest part of its area (measured in the
   CGCS2000 Gauss-Krüger zone of the data); then
2. among the remaining candidates, the one with the lowest code.

A point on the shared edge of two compounds (or buildings) gets the lowest code.

Outside the service area
------------------------
A point outside every grid but within ``snap_tolerance_m`` (default 30 m) of one is routed to
the nearest grid (ties: lowest code) with ``snapped=True`` and ``distance_m`` (metres, in the
Gauss-Krüger zone); its micro-grid is that grid's nearest micro-grid within the tolerance, if
any. Beyond the tolerance :class:`~gridgis.errors.OutOfAreaError` names the nearest grid (code,
name) and the distance.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridgis.codes import community_of, grid_of, street_of
from gridgis.crs import ensure_storage_crs, metric_crs_for, parse_crs, points_to_storage
from gridgis.errors import OutOfAreaError, ValidationError
from gridgis.routing import kernels
from gridgis.routing.cells import CellLocator, polygon_edges
from gridgis.routing.nearest import NearestSegments, first_per_point, haversine_m, metric_transformer, outer_edges
from gridgis.routing.result import RouteResult

DEFAULT_SNAP_TOLERANCE_M = 30.0


def _workers(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        import json

        return json.loads(value)
    return []


def _frame(city: dict[str, gpd.GeoDataFrame], layer: str) -> gpd.GeoDataFrame:
    frame = city.get(layer)
    if frame is None or len(frame) == 0:
        return gpd.GeoDataFrame({"code": [], "name": []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    frame = ensure_storage_crs(frame, layer)
    frame = frame[~frame.geometry.isna() & ~frame.geometry.is_empty]
    return frame.sort_values("code", kind="stable").reset_index(drop=True)


def _col(frame: pd.DataFrame, name: str) -> np.ndarray:
    out = np.full(len(frame), None, dtype=object)
    if name in frame.columns:
        for i, v in enumerate(frame[name].tolist()):
            out[i] = None if (v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA) else v
    return out


#: attributes derived from names and workers, never carried over from an earlier generation's index
_PER_GENERATION = (
    "_resolver",
    "_g_rows",
    "_m_rows",
    "_q_lists",
    "_b_lists",
    "_address_source",
    "_address_packed",
    "grid_wkb",
    "shared_path",
)


def _shape_key(*frames_and_settings: Any) -> str:
    """A digest of every code and outline (WKB) the spatial structures are built from, and their settings."""
    import hashlib

    digest = hashlib.sha256()
    for item in frames_and_settings:
        if isinstance(item, gpd.GeoDataFrame):
            digest.update("\x1f".join(map(str, item["code"])).encode() if "code" in item else b"")
            digest.update(b"".join(shapely.to_wkb(item.geometry.values, hex=False)))
        else:
            digest.update(repr(item).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def _segments(ax, ay, bx, by) -> np.ndarray:
    """Line segments (a → b) as shapely LineStrings."""
    return shapely.linestrings(np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1))


def _to_wkb(frame: gpd.GeoDataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The given columns (those present) and the geometry as WKB: a few bytes per vertex instead of GEOS objects."""
    out = pd.DataFrame({c: frame[c].to_numpy() for c in columns if c in frame.columns})
    out["wkb"] = shapely.to_wkb(frame.geometry.values)
    return out


def _from_wkb(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """:func:`_to_wkb` back to a layer frame (EPSG:4326)."""
    geometry = gpd.GeoSeries(shapely.from_wkb(frame["wkb"].to_numpy()), crs="EPSG:4326")
    return gpd.GeoDataFrame(frame.drop(columns="wkb"), geometry=geometry, crs="EPSG:4326")


def _packed(values) -> np.ndarray:
    """An object array of fresh string copies laid out in order (equal strings share one object),
    ``None`` kept: batch results index it a million times, and contiguous objects make that
    several times faster than strings scattered over the heap by the readers."""
    seen: dict[str, str] = {}
    out = [None if v is None else seen.setdefault(v, (str(v) + " ")[:-1]) for v in values]
    return np.array(out + [None], dtype=object)[:-1]  # the extra None keeps a 1-d object array


class RoutingIndex:
    """The in-memory routing index of one boundary generation (see the module docstring).

    Build with :meth:`build`; route one point with :meth:`route`, arrays with :meth:`route_many`.
    """

    # set by build(): per-feature arrays (object arrays of codes/names end with a ``None`` sentinel
    # so index -1 means "none"), the cell locators and the metric geometry for snapping
    snap_tolerance_m: float
    g_code: np.ndarray
    g_name: np.ndarray
    g_comm: np.ndarray
    g_street: np.ndarray
    g_workers: list[list[Any]]
    ngrids_geom: int
    m_code: np.ndarray
    m_name: np.ndarray
    m_grid: np.ndarray
    m_workers: list[list[Any]]
    community_names: dict[str, Any]
    street_names: dict[str, Any]
    q_code: np.ndarray
    q_name: np.ndarray
    b_code: np.ndarray
    b_name: np.ndarray
    micro_loc: CellLocator
    grid_loc: CellLocator
    nq: int
    area_loc: CellLocator
    metric_crs: str
    _to_metric: pyproj.Transformer
    grid_segment_owner: np.ndarray
    grid_nearest: NearestSegments
    micro_seg_grouped: tuple[np.ndarray, ...]
    micro_seg_ptr: np.ndarray
    grid_wkb: np.ndarray  # the grids' outlines (EPSG:4326) as WKB, for the rare point beyond the metric zone
    q_owner: np.ndarray
    #: a routing pool's counties (``gridgis serve --counties``) and the county rule over every county's
    #: grids (:class:`gridgis.routing.county.CountyLocator`); None for an index of the whole store
    counties: frozenset[str] | None = None
    county_locator: Any = None
    shape_key: str  # digest of the codes and outlines the spatial structures are built from
    #: the file this index is mapped from (gridgis.routing.shared), None when it lives in this process
    shared_path: Any = None
    _g_rows: list[tuple[Any, ...]]
    _m_rows: list[tuple[Any, ...]]
    _q_lists: tuple[list[Any], list[Any]]
    _b_lists: tuple[list[Any], list[Any]]

    def __init__(self) -> None:  # use RoutingIndex.build
        self.generation: int | None = None
        self._resolver: Any = None
        self._trees: dict[str, shapely.STRtree] = {}

    # ------------------------------------------------------------------ pickling (gridgis.routing.shared)
    def __getstate__(self) -> dict[str, Any]:
        """Everything but what is rebuilt on demand: trees, the transformer, per-process rows, the
        address resolver and the county rule. Numeric arrays pickle out of band (protocol 5), so
        :mod:`gridgis.routing.shared` writes them once to a file every worker maps."""
        skip = {"_resolver", "_trees", "_to_metric", "_g_rows", "_m_rows", "_q_lists", "_b_lists"}
        skip |= {"county_locator", "shared_path"}
        state = {k: v for k, v in vars(self).items() if k not in skip}
        # the address resolver's inputs as one byte array (out of band too): decoded only when an address comes
        source = state.pop("_address_source", None)
        if source is not None:
            state["_address_packed"] = np.frombuffer(pickle.dumps(source, protocol=5), dtype=np.uint8)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._resolver, self._trees = None, {}
        self._to_metric = metric_transformer(self.metric_crs)
        self._prepare_rows()

    def _tree(self, name: str) -> shapely.STRtree:
        """A search tree built on first use from the arrays (they answer nearly every query without one)."""
        tree = self._trees.get(name)
        if tree is None:
            if name == "grids_deg":
                tree = shapely.STRtree(shapely.from_wkb(self.grid_wkb))
            else:  # "micro_segments": the snapping segments, grouped by grid (owners in micro_seg_grouped[4])
                ax, ay, bx, by, _ = self.micro_seg_grouped
                tree = shapely.STRtree(_segments(ax, ay, bx, by))
            self._trees[name] = tree
        return tree

    @property
    def address_source(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(compounds, buildings) frames with the geometry as WKB: the address resolver's inputs."""
        source = self.__dict__.get("_address_source")
        if source is None:  # mapped from a shared file: unpickled on first use, not kept
            source = pickle.loads(self.__dict__["_address_packed"].tobytes())
        return source

    @address_source.setter
    def address_source(self, value: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        self.__dict__["_address_source"] = value

    @property
    def compounds(self) -> gpd.GeoDataFrame:
        """This generation's compounds (code, name, address), decoded from WKB on each call."""
        return _from_wkb(self.address_source[0])

    @property
    def buildings(self) -> gpd.GeoDataFrame:
        """This generation's buildings (code, name, compound_code, number), decoded from WKB on each call."""
        return _from_wkb(self.address_source[1])

    @property
    def address_resolver(self) -> Any:
        """The :class:`~gridgis.routing.address.AddressResolver` of this generation's compounds (built once)."""
        if self._resolver is None:
            from gridgis.routing.address import AddressResolver

            self._resolver = AddressResolver(self.compounds, self.buildings)
        return self._resolver

    # ------------------------------------------------------------------ build
    @classmethod
    def build(
        cls,
        city: dict[str, gpd.GeoDataFrame],
        generation: int | None = None,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
        cell_m: float | None = None,
        previous: RoutingIndex | None = None,
    ) -> RoutingIndex:
        """Build the index from layer frames (EPSG:4326): ``grids`` is required, the rest optional.

        ``previous`` (the index of an earlier generation): when every outline and code is the same
        (only names, workers or households changed), its rasters and trees are reused and only the
        attributes are read again, so such a generation is served at once.

        Examples
        --------
        >>> from gridgis.sample.lattice import synthetic_city
        >>> index = RoutingIndex.build(synthetic_city(2, 2, micro=2, per_community=2))
        >>> index.route(121.5005, 31.2204).micro_grid_code
        '31011500100100303'
        """
        self = cls()
        self.generation = generation
        self.snap_tolerance_m = float(snap_tolerance_m)
        grids = _frame(city, "grids")
        if len(grids) == 0:
            raise ValidationError("cannot build a routing index without grids; load the grids layer first")
        micro = _frame(city, "micro_grids")
        comps = _frame(city, "compounds")
        blds = _frame(city, "buildings")

        # grids, plus placeholder rows for grid codes that micro-grids name but the grids layer lacks
        g_code = list(grids["code"])
        g_name = list(_col(grids, "name"))
        g_comm = [c if c else community_of(code) for c, code in zip(_col(grids, "community_code"), g_code)]
        g_workers = [_workers(w) for w in _col(grids, "workers")]
        gpos = {c: i for i, c in enumerate(g_code)}
        mg_grid = [gc if gc else grid_of(code) for gc, code in zip(_col(micro, "grid_code"), micro["code"])]
        for gc in mg_grid:
            if gc not in gpos:
                gpos[gc] = len(g_code)
                g_code.append(gc)
                g_name.append(None)
                g_comm.append(community_of(gc))
                g_workers.append([])
        self.g_code = _packed(g_code + [None])
        self.g_name = np.array(g_name + [None], dtype=object)
        self.g_comm = _packed(g_comm + [None])
        self.g_street = _packed([street_of(c) if c else None for c in g_comm] + [None])
        self.g_workers = g_workers
        self.ngrids_geom = len(grids)

        self.m_code = _packed(list(micro["code"]) + [None])
        self.m_name = np.array(list(_col(micro, "name")) + [None], dtype=object)
        self.m_grid = np.array([gpos[g] for g in mg_grid] + [-1], dtype=np.int64)
        self.m_workers = [_workers(w) for w in _col(micro, "workers")]

        comm = _frame(city, "communities")
        streets = _frame(city, "streets")
        self.community_names = dict(zip(comm["code"], _col(comm, "name")))
        self.street_names = dict(zip(streets["code"], _col(streets, "name")))

        self.q_code = _packed(list(comps["code"]) + [None])
        self.q_name = np.array(list(_col(comps, "name")) + [None], dtype=object)
        self.b_code = _packed(list(blds["code"]) + [None])
        self.b_name = np.array(list(_col(blds, "name")) + [None], dtype=object)
        self.address_source = (
            _to_wkb(comps, ("code", "name", "address")),
            _to_wkb(blds, ("code", "name", "compound_code", "number")),
        )
        self.grid_wkb = shapely.to_wkb(grids.geometry.values)

        self.shape_key = _shape_key(grids, micro, comps, blds, self.snap_tolerance_m, cell_m)
        if previous is not None and getattr(previous, "shape_key", None) == self.shape_key:
            for name, value in vars(previous).items():  # the spatial structures: same shapes, same answers
                if name not in vars(self) and name not in _PER_GENERATION:
                    setattr(self, name, value)
            self._prepare_rows()
            return self
        # the micro-grid raster answers most points; the others are consulted less or are small
        self.micro_loc = CellLocator.build(micro.geometry.values, cell_m=cell_m, max_cells=12_000_000)
        self.grid_loc = CellLocator.build(grids.geometry.values, cell_m=cell_m, max_cells=2_000_000)
        # compounds and buildings share one raster (ids: compounds first, then buildings), so a point
        # needs one look-up for both; a building inside a compound is simply a doubly covered cell
        self.nq = len(comps)
        self.area_loc = CellLocator.build(
            np.concatenate([comps.geometry.values, blds.geometry.values]), cell_m=cell_m, max_cells=6_000_000
        )

        # metric geometry for compound ownership and snapping (trees and geometries are dropped after
        # the build: the arrays below answer every query, and the rare fallbacks rebuild a tree on demand)
        self.metric_crs = metric_crs_for(grids)
        self._to_metric = metric_transformer(self.metric_crs)
        grids_m = self._project(grids.geometry.values)
        micro_m = self._project(micro.geometry.values)
        # every grid edge as its own segment: the nearest grid of an outside point is the owner of
        # its nearest segment, and segment distances are cheap (polygon distances are not)
        ax, ay, bx, by, owner = outer_edges(*polygon_edges(grids_m))
        self.grid_segment_owner = owner
        self.grid_nearest = NearestSegments(ax, ay, bx, by, owner, shapely.STRtree(_segments(ax, ay, bx, by)))
        ax, ay, bx, by, owner = polygon_edges(micro_m)
        del micro_m
        # the micro-grids' segments grouped by the grid of their micro-grid, for snapping
        by_grid = np.argsort(self.m_grid[owner], kind="stable")
        self.micro_seg_grouped = tuple(np.ascontiguousarray(a[by_grid]) for a in (ax, ay, bx, by, owner))
        self.micro_seg_ptr = np.searchsorted(self.m_grid[owner][by_grid], np.arange(len(self.g_code) + 1))
        self.q_owner = np.full(len(comps) + 1, -1, dtype=np.int64)
        if len(comps):
            comps_m = self._project(comps.geometry.values)
            qi, gi = shapely.STRtree(grids_m).query(comps_m, predicate="intersects")
            area = shapely.area(shapely.intersection(comps_m[qi], grids_m[gi]))
            order = np.lexsort((gi, -area, qi))  # per compound: largest area first, then lowest code
            qi, gi = qi[order], gi[order]
            first = np.concatenate([[True], qi[1:] != qi[:-1]]) if len(qi) else np.zeros(0, bool)
            self.q_owner[qi[first]] = gi[first]
        self._prepare_rows()
        self.warm_up()
        return self

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the batch kernels for this index's arrays now, not on
        the first request (arrays mapped read-only from a shared file are a type of their own)."""
        kernels.warm_up(self.micro_loc)
        kernels.warm_up(self.area_loc)
        if kernels.AVAILABLE:
            empty = np.zeros(0)
            kernels.nearest_in_cells(self.grid_nearest, empty, empty)
            kernels.nearest_of_group(
                empty, empty, np.zeros(0, np.int64), 1.0, self.micro_seg_ptr, *self.micro_seg_grouped
            )

    def _prepare_rows(self) -> None:
        """Plain-Python result rows per micro-grid and per grid: the single look-up only indexes lists."""

        def grid_row(g: int) -> tuple:
            comm, street = self.g_comm[g], self.g_street[g]
            return (
                self.g_code[g],
                self.g_name[g],
                comm,
                self.community_names.get(comm),
                street,
                self.street_names.get(street),
                self.g_workers[g] if g >= 0 else [],
            )

        self._g_rows = [(None, None, *grid_row(g)[:6], [], grid_row(g)[6]) for g in range(len(self.g_code) - 1)]
        self._m_rows = []
        for m, g in enumerate(self.m_grid[:-1].tolist()):
            row = grid_row(g)
            self._m_rows.append((self.m_code[m], self.m_name[m], *row[:6], self.m_workers[m], row[6]))
        # plain lists over the same strings (8 bytes a row): indexing a list is faster than an object array
        self._q_lists = (self.q_code.tolist(), self.q_name.tolist())
        self._b_lists = (self.b_code.tolist(), self.b_name.tolist())

    def _project(self, geoms: np.ndarray) -> np.ndarray:
        """EPSG:4326 geometries → the metric CRS (one cached transformer, no per-call setup)."""
        tr = self._to_metric
        return shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))

    @property
    def stats(self) -> dict[str, Any]:
        """Counts and cell-raster sizes (for logs and benchmarks)."""
        return {
            "generation": self.generation,
            "micro_grids": len(self.m_code) - 1,
            "grids": self.ngrids_geom,
            "compounds": len(self.q_code) - 1,
            "buildings": len(self.b_code) - 1,
            "micro_cells": self.micro_loc.stats,
        }

    # ------------------------------------------------------------------ single
    def _pick(self, cands: tuple[int, ...], compound: int, grid_of) -> int:
        """The tie rule: candidates in the grid owning the compound, then the lowest code (= id)."""
        if compound >= 0:
            owner = int(self.q_owner[compound])
            preferred = [c for c in cands if grid_of(c) == owner]
            if preferred:
                return min(preferred)
        return min(cands)

    def route(self, lon: float, lat: float, crs: str = "wgs84") -> RouteResult:
        """Route one point given in ``crs`` (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09``, ``EPSG:nnnn``).

        Raises
        ------
        ValidationError
            for NaN, infinite or out-of-range coordinates.
        OutOfAreaError
            when the point is farther than the snap tolerance from every grid.
        """
        try:
            x, y = float(lon), float(lat)
        except (TypeError, ValueError):
            raise ValidationError(f"coordinates must be numbers, got lon={lon!r}, lat={lat!r}") from None
        if crs != "wgs84":
            src = parse_crs(crs)
            if src.china != "wgs84":
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise ValidationError(f"coordinates must be finite numbers, got lon={lon!r}, lat={lat!r}")
                xs, ys = points_to_storage([x], [y], src)
                x, y = float(xs[0]), float(ys[0])
        if not (math.isfinite(x) and math.isfinite(y) and -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
            raise ValidationError(
                f"coordinates out of range: lon={lon!r}, lat={lat!r} ({crs}); lon must lie in "
                "[-180, 180] and lat in [-90, 90] after conversion to WGS84"
            )
        compound, building = self.area_loc.covering_one(x, y, self.nq)  # lowest codes where several cover it
        m = self.micro_loc.locate_one(x, y)
        snapped, dist, mi, gi = False, 0.0, -1, -1
        if m:
            mi = m[0] if len(m) == 1 else self._pick(m, compound, lambda c: int(self.m_grid[c]))
        else:
            g = self.grid_loc.locate_one(x, y)
            if g:
                gi = g[0] if len(g) == 1 else self._pick(g, compound, lambda c: c)
            else:
                gi, mi, dist = self._snap_one(x, y)
                snapped = True
        qc, qn = self._q_lists[0][compound], self._q_lists[1][compound]  # -1: the trailing None
        bc, bn = self._b_lists[0][building], self._b_lists[1][building]
        r = self._m_rows[mi] if mi >= 0 else self._g_rows[gi]
        return RouteResult(
            x,
            y,
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            qc,
            qn,
            bc,
            bn,
            r[8],
            r[9],
            snapped,
            dist,
            self.generation,
        )

    def _snap_one(self, x: float, y: float) -> tuple[int, int, float]:
        gi, mi, dist, _, _ = self._snap(np.array([x]), np.array([y]))
        if gi[0] < 0:
            self._raise_outside(x, y)
        return int(gi[0]), int(mi[0]), float(dist[0])

    def _nearest_far(self, x: float, y: float) -> tuple[int, float]:
        """The nearest grid of a point beyond the tolerance, with the distance in metres."""
        mx, my = self._to_metric.transform(x, y)
        if math.isfinite(mx) and math.isfinite(my):
            _, grid, d = self._nearest_grid(np.array([shapely.Point(mx, my)]))
            return int(grid[0]), float(d[0])
        pt = shapely.Point(x, y)
        tree = self._tree("grids_deg")
        gi = int(tree.query_nearest(pt).min())
        near = shapely.get_coordinates(shapely.shortest_line(pt, tree.geometries[gi]))[1]
        return gi, haversine_m(x, y, near[0], near[1])

    def _nearest_grid(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point position, nearest grid, distance m) for metric points outside every grid (ties: lowest code)."""
        (pi, si), d = self.grid_nearest.tree.query_nearest(pts, return_distance=True, all_matches=True)
        point, grid, dist = first_per_point(pi, self.grid_segment_owner[si], d)
        return point, grid, dist

    def _nearest_far_many(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_nearest_far` for arrays (one nearest grid per point, ties: lowest code)."""
        mx, my = self._to_metric.transform(x, y)
        mx, my = np.asarray(mx, dtype=float), np.asarray(my, dtype=float)
        ok = np.isfinite(mx) & np.isfinite(my)
        g = np.zeros(len(x), dtype=np.int64)
        d = np.zeros(len(x))
        if ok.any():
            pi, ti, dd = self._nearest_grid(shapely.points(mx[ok], my[ok]))
            rows = np.flatnonzero(ok)[pi]
            g[rows], d[rows] = ti, dd
        for row in np.flatnonzero(~ok):
            g[row], d[row] = self._nearest_far(float(x[row]), float(y[row]))
        return g, d

    def _raise_outside(self, x: float, y: float) -> None:
        gi, d = self._nearest_far(x, y)
        raise OutOfAreaError(
            f"point ({x:.6f}, {y:.6f}) is outside the service area: the nearest grid is {self.g_code[gi]} "
            f"{self.g_name[gi] or ''} at {d:.0f} m (tolerance {self.snap_tolerance_m:.0f} m); check the "
            "coordinates and their CRS (wgs84, gcj02, bd09 …)"
        )

    def _snap(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """Nearest grid (and micro-grid in it) within the tolerance, ``-1`` where none is; plus the
        nearest grid and its distance for every point (``-1``/NaN where the metric CRS cannot hold it)."""
        n = len(x)
        gi = np.full(n, -1, dtype=np.int64)
        mi = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        mx, my = self._to_metric.transform(x, y)
        mx, my = np.asarray(mx, dtype=float), np.asarray(my, dtype=float)
        # one exact nearest-outline search for every point (ties: lowest code); snapped within the tolerance
        near_g, near_d = self.grid_nearest.nearest(mx, my)
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(near_d <= self.snap_tolerance_m)
        gi[rows], dist[rows] = near_g[rows], near_d[rows]
        if len(rows) and kernels.AVAILABLE:  # the nearest micro-grid of the snapped grid, within the tolerance
            mi[rows] = kernels.nearest_of_group(
                mx[rows], my[rows], gi[rows], self.snap_tolerance_m, self.micro_seg_ptr, *self.micro_seg_grouped
            )[0]
        elif len(rows):
            pts = shapely.points(mx[rows], my[rows])
            tree = self._tree("micro_segments")
            pj, sj = tree.query(pts, predicate="dwithin", distance=self.snap_tolerance_m)
            if len(pj):
                tj = self.micro_seg_grouped[4][sj]
                dj = shapely.distance(pts[pj], tree.geometries[sj])
                keep = self.m_grid[tj] == gi[rows][pj]
                pj, tj, _ = first_per_point(pj[keep], tj[keep], dj[keep])
                mi[rows[pj]] = tj
        return gi, mi, dist, near_g, near_d

    # ------------------------------------------------------------------ batch
    def route_many(self, lon, lat, crs: str = "wgs84", with_compounds: bool = True) -> pd.DataFrame:
        """Route arrays of points given in ``crs``; one row per point, in input order.

        Columns: ``micro_grid_code``, ``grid_code``, ``community_code``, ``street_code``,
        ``compound_code``, ``building_code`` (``None`` where not routed or not inside one; both
        left out when ``with_compounds`` is false, which skips those look-ups except where the
        tie rule needs the compound), ``snapped``, ``distance_m`` and ``reason`` (empty when
        routed; otherwise why not).
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        if lon.shape != lat.shape or lon.ndim != 1:
            raise ValidationError(f"lon and lat must be 1-d arrays of the same length, got {lon.shape} and {lat.shape}")
        n = len(lon)
        names = ["micro_grid_code", "grid_code", "community_code", "street_code"]
        names += ["compound_code", "building_code"] if with_compounds else []
        # the object columns of the result as one block (no consolidation copy); reason is its last row
        block = np.empty((len(names) + 1, n), dtype=object)
        reason = block[-1]
        reason[:] = ""
        finite_in = np.isfinite(lon) & np.isfinite(lat)
        all_finite = bool(finite_in.all())
        if not all_finite:
            reason[~finite_in] = "missing or non-numeric coordinates"
            lon, lat = np.where(finite_in, lon, 0.0), np.where(finite_in, lat, 0.0)
        x, y = points_to_storage(lon, lat, crs)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        with np.errstate(invalid="ignore"):
            good = finite_in & np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
        if not (all_finite and good.all()):  # the usual batch skips these copies
            reason[finite_in & ~good] = f"coordinates out of range for {crs}"
            x, y = np.where(good, x, np.nan), np.where(good, y, np.nan)

        if with_compounds:
            comp, bld = self._areas(x, y)
        else:
            comp = np.full(n, -1, dtype=np.int64)
        mfirst, mp, mpoly = self.micro_loc.locate(x, y)
        if not with_compounds and len(mp):  # the tie rule needs the compound of tied points only
            tied = np.unique(mp)
            comp[tied] = self._areas(x[tied], y[tied])[0]
        mi = self._resolve_ties(mfirst, mp, mpoly, comp, self.m_grid)
        gi = self.m_grid[mi]  # m_grid[-1] is -1: no micro-grid, no grid yet
        need = np.flatnonzero(good & (mi < 0))
        snapped = np.zeros(n, dtype=bool)
        dist = np.zeros(n)
        if len(need):
            gfirst, gp, gpoly = self.grid_loc.locate(x[need], y[need])
            if not with_compounds and len(gp):
                tied = need[np.unique(gp)]
                comp[tied] = self._areas(x[tied], y[tied])[0]
            gi[need] = self._resolve_ties(gfirst, gp, gpoly, comp[need], np.arange(self.ngrids_geom + 1))
            out = need[gi[need] < 0]
            if len(out):
                sg, sm, sd, ng, nd = self._snap(x[out], y[out])
                gi[out], mi[out], dist[out] = sg, sm, np.where(sg >= 0, sd, 0.0)
                snapped[out] = sg >= 0
                far = out[sg < 0]
                if len(far):
                    fg, fd = ng[sg < 0], nd[sg < 0]
                    lost = np.flatnonzero(fg < 0)  # beyond the metric zone: nearest in degrees
                    if len(lost):
                        fg[lost], fd[lost] = self._nearest_far_many(x[far[lost]], y[far[lost]])
                    reason[far] = self._far_reasons(fg, fd)
        tables = [(self.m_code, mi), (self.g_code, gi), (self.g_comm, gi), (self.g_street, gi)]
        tables += [(self.q_code, comp), (self.b_code, bld)] if with_compounds else []
        for row, (table, ids) in zip(block, tables):
            np.take(table, ids, out=row, mode="wrap")  # ids are -1 (the trailing None) … len - 1
        frame = pd.DataFrame(block.T, columns=names + ["reason"], dtype=object, copy=False)
        frame.insert(len(names), "snapped", snapped)
        frame.insert(len(names) + 1, "distance_m", dist)
        return frame

    def _far_reasons(self, g: np.ndarray, d: np.ndarray) -> np.ndarray:
        """``outside the service area: nearest grid <code> at <d> m`` per point, each distinct text built once
        (``%.0f`` and ``np.rint`` both round half to even on the exact value)."""
        whole = np.rint(d)
        if not (np.isfinite(whole).all() and (whole < 2**36).all()):
            return np.array(
                [
                    f"outside the service area: nearest grid {self.g_code[a]} at {b:.0f} m"
                    for a, b in zip(g.tolist(), d.tolist())
                ]
                + [None],
                dtype=object,
            )[:-1]
        keys, inverse = np.unique((g.astype(np.int64) << 36) | whole.astype(np.int64), return_inverse=True)
        codes = self.g_code[keys >> 36].tolist()
        metres = (keys & (2**36 - 1)).tolist()
        texts = [f"outside the service area: nearest grid {a} at {b} m" for a, b in zip(codes, metres)]
        return np.array(texts + [None], dtype=object)[inverse.ravel()]

    def _areas(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(compound id, building id) per point, lowest code where several cover it, -1 where none."""
        comp, bld, _ = self.area_loc.covering(x, y, split=self.nq)
        return comp, bld

    def _resolve_ties(self, first, mp, mpoly, comp, grid_of) -> np.ndarray:
        """Apply the tie rule to the points covered by several polygons (vectorised)."""
        out = first.copy()
        if len(mp) == 0:
            return out
        owner = self.q_owner[comp[mp]]
        preferred = (owner >= 0) & (grid_of[mpoly] == owner)
        order = np.lexsort((mpoly, ~preferred, mp))
        mp, mpoly = mp[order], mpoly[order]
        head = np.concatenate([[True], mp[1:] != mp[:-1]])
        out[mp[head]] = mpoly[head]
        return out
