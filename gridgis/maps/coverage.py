"""Life-circle coverage of service stations (pure functions; no folium, no storage).

GB 50180-2018 sets walking life circles: 5 minutes ≈ 300 m, 10 minutes ≈ 500 m and
15 minutes ≈ 800–1,000 m (planning walking speed ≈ 60 m/min). Distances are measured
along the road network when one is given (:mod:`gridgis.maps.network`); otherwise the
straight-line distance is multiplied by a stated detour factor (default 1.3), so a
station covers a circle of radius ``distance_m / detour``.

Households are taken from buildings (their ``households``) when the city has buildings,
else from compounds. Everything is computed in the metric CRS chosen for the data
(:func:`gridgis.crs.metric_crs_for`); frames returned are in EPSG:4326.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS, ensure_storage_crs, metric_crs_for
from gridgis.errors import ValidationError
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.maps.network import RoadNetwork, network_distances

#: GB 50180-2018 walking life circles, metres (15-minute: the upper end of 800–1,000 m)
LIFE_CIRCLES: dict[str, float] = {"5min": 300.0, "10min": 500.0, "15min": 1000.0}
LIFE_CIRCLE_LABELS = {"5min": "5分钟生活圈", "10min": "10分钟生活圈", "15min": "15分钟生活圈"}
#: straight line × this ≈ walking distance when no road network is loaded
DEFAULT_DETOUR = 1.3
#: how far (m) a reached road lets people walk off it into the blocks, for service-area polygons
OFFROAD_M = 120.0


def life_circle_distance(circle: str | float) -> float:
    """Metres for ``"5min"``, ``"10min"``, ``"15min"`` (or a number of metres, returned as is).

    >>> life_circle_distance("10min")
    500.0
    >>> life_circle_distance(800)
    800.0
    """
    if isinstance(circle, int | float):
        if circle <= 0:
            raise ValidationError(f"life-circle distance {circle} m must be positive")
        return float(circle)
    try:
        return LIFE_CIRCLES[circle]
    except KeyError:
        raise ValidationError(
            f"unknown life circle {circle!r}; use one of {list(LIFE_CIRCLES)} or a distance in metres"
        ) from None


def demand_points(city: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Where households live: building (else compound) centroids with ``households`` and ``community_code``.

    Returns an EPSG:4326 point frame; rows with no households are dropped.
    """
    for layer in ("buildings", "compounds"):
        frame = city.get(layer)
        if frame is None or len(frame) == 0:
            continue
        frame = ensure_storage_crs(frame, what=layer)
        hh = pd.to_numeric(frame.get("households"), errors="coerce").fillna(0).astype(float)
        if hh.sum() <= 0:
            continue
        crs = metric_crs_for(frame)
        pts = frame.geometry.to_crs(crs).representative_point().to_crs(STORAGE_CRS)
        out = gpd.GeoDataFrame(
            {
                "source": layer,
                "code": frame["code"].values,
                "community_code": frame["community_code"].values,
                "households": hh.values,
            },
            geometry=pts.values,
            crs=STORAGE_CRS,
        )
        return out[out["households"] > 0].reset_index(drop=True)
    raise ValidationError(
        "no households to cover: neither buildings nor compounds carry households; "
        "load buildings (or compounds) with a households count"
    )


def distances_to_nearest(
    targets_xy: np.ndarray,
    sources_xy: np.ndarray,
    limit_m: float,
    network: RoadNetwork | None = None,
    detour: float = DEFAULT_DETOUR,
) -> np.ndarray:
    """Walking distance (m) from each target to its nearest source; ``inf`` beyond ``limit_m``.

    Coordinates are metric (the network's CRS when a network is given). Without a network
    the distance is the straight line × ``detour``; with one, the walk is target → nearest
    node → road → nearest node → source.
    """
    targets_xy = np.asarray(targets_xy, dtype=float).reshape(-1, 2)
    sources_xy = np.asarray(sources_xy, dtype=float).reshape(-1, 2)
    out = np.full(len(targets_xy), np.inf)
    if len(targets_xy) == 0 or len(sources_xy) == 0:
        return out
    if network is None:
        tree = shapely.STRtree(shapely.points(sources_xy))
        tpts = shapely.points(targets_xy)
        ti, si = tree.query(tpts, predicate="dwithin", distance=limit_m / detour)
        if len(ti):
            d = np.hypot(*(targets_xy[ti] - sources_xy[si]).T) * detour
            np.minimum.at(out, ti, d)
        return out
    dist = network_distances(network, sources_xy, limit_m)
    nodes, snap = network.snap(shapely.points(targets_xy))
    node_d = np.array([dist.get(n, np.inf) for n in nodes.tolist()])
    total = node_d + snap
    # a target right beside a station may be reached directly, without the road
    direct = distances_to_nearest(targets_xy, sources_xy, limit_m, None, detour)
    total = np.minimum(total, direct)
    out = np.where(total <= limit_m, total, np.inf)
    return out


def roads_extent(network: RoadNetwork, offroad_m: float = OFFROAD_M) -> shapely.Geometry:
    """The part of the map the road network describes (metric CRS): the convex hull of its nodes,
    widened by ``offroad_m``. Beyond it nothing is known about the roads, so walking there is the
    straight line × detour (see :func:`service_area`)."""
    if len(network.node_xy) == 0:
        return shapely.Polygon()
    return shapely.buffer(shapely.convex_hull(shapely.multipoints(network.node_xy)), offroad_m)


def covered(area: shapely.Geometry, xy: np.ndarray) -> np.ndarray:
    """Which points (metric ``xy``) lie in ``area`` (boundary included): how coverage is counted.

    The counts and the drawing use the same geometry, :func:`service_area`, so no household
    counted as covered lies in an area drawn as uncovered.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0 or area.is_empty:
        return np.zeros(len(xy), dtype=bool)
    shapely.prepare(area)
    return shapely.intersects_xy(area, xy[:, 0], xy[:, 1])


def service_area(
    sources_xy: np.ndarray,
    distance_m: float,
    network: RoadNetwork | None = None,
    detour: float = DEFAULT_DETOUR,
    offroad_m: float = OFFROAD_M,
) -> shapely.Geometry:
    """The area (metric CRS) within ``distance_m`` walking of any source.

    Straight-line: circles of radius ``distance_m / detour``. Network: reached road nodes and
    segments buffered by the remaining distance, at most ``offroad_m`` off the road; where the
    roads are not known (outside :func:`roads_extent`) the straight-line circles apply. This one
    geometry is both drawn and counted (:func:`covered`).
    """
    sources_xy = np.asarray(sources_xy, dtype=float).reshape(-1, 2)
    if len(sources_xy) == 0:
        return shapely.Polygon()
    direct = shapely.buffer(
        shapely.points(sources_xy),
        min(distance_m / detour, offroad_m) if network is not None else distance_m / detour,
        quad_segs=8,
    )
    if network is None:
        return shapely.union_all(direct)
    circles = shapely.union_all(shapely.buffer(shapely.points(sources_xy), distance_m / detour, quad_segs=8))
    beyond = shapely.difference(circles, roads_extent(network, offroad_m))  # no roads known there
    dist = network_distances(network, sources_xy, distance_m)
    if not dist:
        return shapely.union_all(np.concatenate([direct, [beyond]]))
    nodes = np.fromiter(dist.keys(), dtype=int)
    remaining = distance_m - np.fromiter(dist.values(), dtype=float)
    rem = np.full(len(network.node_xy), -1.0)
    rem[nodes] = remaining
    node_buf = shapely.buffer(shapely.points(network.node_xy[nodes]), np.minimum(remaining, offroad_m), quad_segs=4)
    e = network.edges
    both = (rem[e[:, 0]] > 0) & (rem[e[:, 1]] > 0)
    e = e[both]
    width = np.minimum(np.minimum(rem[e[:, 0]], rem[e[:, 1]]), offroad_m)
    segs = shapely.linestrings(np.stack([network.node_xy[e[:, 0]], network.node_xy[e[:, 1]]], axis=1))
    edge_buf = shapely.buffer(segs, width, quad_segs=2)
    return shapely.union_all(np.concatenate([direct, node_buf, edge_buf, [beyond]]))


@dataclass
class CoverageResult:
    """What :func:`coverage_report` finds.

    Attributes
    ----------
    by_community : pandas.DataFrame
        One row per community and station kind: ``community_code, community_name, kind, kind_zh,
        households, covered_households, share`` (share in 0–1).
    uncovered : GeoDataFrame
        EPSG:4326 polygons: ``community_code, kind, kind_zh, geometry`` — the part of each community
        outside every station of that kind's service area.
    demand : GeoDataFrame
        The household points with one boolean column ``covered_<kind>`` per kind.
    distance_m, method : float, str
        The life-circle distance and how it was measured (``"路网 network"`` or ``"直线×1.3 straight-line"``);
        with roads that cover only part of the area, the method says which share of households they cover.
    service_areas : GeoDataFrame
        EPSG:4326 polygons ``kind, kind_zh``: the area drawn as covered for each kind (the same
        geometry the counts use).
    roads_share : float or None
        Share of households inside the roads' extent (:func:`roads_extent`); ``None`` without roads.
    """

    by_community: pd.DataFrame
    uncovered: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    distance_m: float
    method: str
    service_areas: gpd.GeoDataFrame | None = None
    roads_share: float | None = None


def coverage_report(
    city: dict[str, gpd.GeoDataFrame],
    circle: str | float = "15min",
    network: RoadNetwork | None = None,
    detour: float = DEFAULT_DETOUR,
    kinds: tuple[str, ...] | None = None,
) -> CoverageResult:
    """Share of households per community within the life circle of each station kind.

    Parameters
    ----------
    city : dict of GeoDataFrame
        Needs ``stations`` and ``communities`` and buildings or compounds with households.
    circle : {"5min", "10min", "15min"} or float
        Life circle, or a distance in metres.
    network : RoadNetwork, optional
        Walk along these roads; without one, straight line × ``detour``.
    kinds : tuple of str, optional
        Station kinds to report (default: the kinds present in ``stations``).
    """
    distance = life_circle_distance(circle)
    for layer in ("stations", "communities"):
        if layer not in city:
            raise ValidationError(f"coverage needs the {layer} layer; load it first")
    stations = ensure_storage_crs(city["stations"], what="stations")
    communities = ensure_storage_crs(city["communities"], what="communities")
    demand = demand_points(city)
    crs = network.crs if network is not None else metric_crs_for(communities)
    dxy = shapely.get_coordinates(demand.geometry.to_crs(crs).values)
    comm_m = communities.geometry.to_crs(crs).values
    st_xy = shapely.get_coordinates(stations.geometry.to_crs(crs).values) if len(stations) else np.zeros((0, 2))
    kinds = (
        kinds or tuple(k for k in STATION_KINDS if k in set(stations["kind"])) or tuple(sorted(set(stations["kind"])))
    )
    rows, holes, areas = [], [], []
    demand = demand.copy()
    for kind in kinds:
        mask = (stations["kind"] == kind).to_numpy()
        area = service_area(st_xy[mask], distance, network, detour)
        areas.append({"kind": kind, "kind_zh": STATION_KINDS.get(kind, kind), "geometry": area})
        hit = covered(area, dxy)  # counted with the very geometry that is drawn
        d = np.where(hit, 0.0, np.inf)
        demand[f"covered_{kind}"] = hit
        for i, (ccode, cname) in enumerate(zip(communities["code"], communities["name"])):
            inside = (demand["community_code"] == ccode).to_numpy()
            total = float(demand.loc[inside, "households"].sum())
            n_covered = float(demand.loc[inside & np.isfinite(d), "households"].sum())
            rows.append(
                {
                    "community_code": ccode,
                    "community_name": cname,
                    "kind": kind,
                    "kind_zh": STATION_KINDS.get(kind, kind),
                    "households": total,
                    "covered_households": n_covered,
                    "share": n_covered / total if total else np.nan,
                }
            )
            gap = shapely.difference(comm_m[i], area)
            if not shapely.is_empty(gap) and shapely.area(gap) > 1.0:
                holes.append(
                    {
                        "community_code": ccode,
                        "kind": kind,
                        "kind_zh": STATION_KINDS.get(kind, kind),
                        "area_m2": float(shapely.area(gap)),
                        "geometry": gap,
                    }
                )
    uncovered = (
        gpd.GeoDataFrame(holes, geometry="geometry", crs=crs)
        if holes
        else gpd.GeoDataFrame({"community_code": [], "kind": [], "kind_zh": [], "area_m2": []}, geometry=[], crs=crs)
    )
    method = "路网 network" if network is not None else f"直线×{detour:g} straight-line"
    roads_share = None
    if network is not None:
        hh = demand["households"].to_numpy(dtype=float)
        inside = covered(roads_extent(network), dxy)
        roads_share = float(hh[inside].sum() / hh.sum()) if hh.sum() else 1.0
        if roads_share < 0.995:
            method = (
                f"路网 network（路网只覆盖 {roads_share:.0%} 的户数，其余按直线×{detour:g}；"
                f"roads cover {roads_share:.0%} of households, straight line × {detour:g} beyond）"
            )
    service_areas = gpd.GeoDataFrame(areas, geometry="geometry", crs=crs) if areas else None
    return CoverageResult(
        by_community=pd.DataFrame(rows),
        uncovered=uncovered.to_crs(STORAGE_CRS),
        demand=demand,
        distance_m=distance,
        method=method,
        service_areas=None if service_areas is None else service_areas.to_crs(STORAGE_CRS),
        roads_share=roads_share,
    )


def suggest_sites(
    demand: gpd.GeoDataFrame,
    covered: np.ndarray,
    candidates: gpd.GeoSeries | gpd.GeoDataFrame,
    circle: str | float = "15min",
    k: int = 3,
    network: RoadNetwork | None = None,
    detour: float = DEFAULT_DETOUR,
) -> gpd.GeoDataFrame:
    """Greedy maximum coverage: the ``k`` candidate sites that reach the most uncovered households.

    Parameters
    ----------
    demand : GeoDataFrame
        Household points (EPSG:4326) with ``households`` (see :func:`demand_points`).
    covered : array of bool
        Which demand points are already covered (e.g. ``result.demand["covered_canteen"]``).
    candidates : GeoSeries or GeoDataFrame
        Candidate points in EPSG:4326 (building centroids, road nodes …).
    k : int
        How many sites to choose; fewer are returned when no candidate adds households.

    Returns
    -------
    GeoDataFrame
        ``rank, new_households, cumulative_households, candidate`` (index into ``candidates``), points in EPSG:4326.
    """
    distance = life_circle_distance(circle)
    demand = ensure_storage_crs(demand, what="demand")
    cand = candidates.geometry if isinstance(candidates, gpd.GeoDataFrame) else candidates
    if cand.crs is None:
        raise ValidationError("candidates have no CRS; give EPSG:4326 points")
    cand = cand.to_crs(STORAGE_CRS)
    crs = network.crs if network is not None else metric_crs_for(demand)
    need = ~np.asarray(covered, dtype=bool)
    dxy = shapely.get_coordinates(demand.geometry.to_crs(crs).values)
    hh = demand["households"].to_numpy(dtype=float)
    cxy = shapely.get_coordinates(cand.to_crs(crs).centroid.values)
    reach = _reach_sets(cxy, dxy[need], distance, network, detour)
    open_idx = np.flatnonzero(need)
    left = np.ones(len(open_idx), dtype=bool)
    chosen, gains = [], []
    for _ in range(max(k, 0)):
        best, best_gain = -1, 0.0
        for c, members in enumerate(reach):
            if c in chosen or len(members) == 0:
                continue
            gain = float(hh[open_idx[members[left[members]]]].sum())
            if gain > best_gain:
                best, best_gain = c, gain
        if best < 0:
            break
        chosen.append(best)
        gains.append(best_gain)
        left[reach[best]] = False
    pts = (
        cand.iloc[chosen].to_crs(crs).centroid.to_crs(STORAGE_CRS)
        if len(chosen)
        else gpd.GeoSeries([], crs=STORAGE_CRS)
    )
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "new_households": gains,
            "cumulative_households": np.cumsum(gains) if gains else [],
            "candidate": [cand.index[c] for c in chosen],
        },
        geometry=list(pts.values),
        crs=STORAGE_CRS,
    )


def _reach_sets(
    cxy: np.ndarray, dxy: np.ndarray, distance: float, network: RoadNetwork | None, detour: float
) -> list[np.ndarray]:
    """For each candidate, the indices of demand points within ``distance`` walking."""
    if len(dxy) == 0:
        return [np.zeros(0, dtype=int) for _ in range(len(cxy))]
    if network is None:
        tree = shapely.STRtree(shapely.points(dxy))
        ci, di = tree.query(shapely.points(cxy), predicate="dwithin", distance=distance / detour)
        order = np.argsort(ci, kind="stable")
        ci, di = ci[order], di[order]
        splits = np.searchsorted(ci, np.arange(len(cxy) + 1))
        return [di[splits[c] : splits[c + 1]] for c in range(len(cxy))]
    # the same rule as the coverage figures: a household is reached when it lies in the site's service area
    return [np.flatnonzero(covered(service_area(xy[None, :], distance, network, detour), dxy)) for xy in cxy]


def coverage_table_zh(result: CoverageResult) -> pd.DataFrame:
    """The per-community table with Chinese column names, shares in percent (for reports)."""
    t = result.by_community.copy()
    t["share"] = (t["share"] * 100).round(1)
    return t.rename(
        columns={
            "community_code": "社区代码",
            "community_name": "社区",
            "kind_zh": "站点类型",
            "households": "户数",
            "covered_households": "覆盖户数",
            "share": "覆盖率%",
        }
    ).drop(columns=["kind"])
