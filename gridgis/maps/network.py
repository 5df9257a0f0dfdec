"""A walkable road network for life-circle distances (pure: frames in, a graph out).

Roads are lines in EPSG:4326. They are projected to the metric CRS chosen for them
(:func:`gridgis.crs.metric_crs_for`), noded at every intersection (``shapely.node`` on
their union, which also merges duplicate pieces of tile-clipped data) and turned into an
undirected :mod:`networkx` graph whose edge weight is the length in metres.

Crossings of a bridge or tunnel over a street are noded like any intersection: a planning
approximation that may shorten a few walks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from gridgis.crs import STORAGE_CRS, ensure_storage_crs, metric_crs_for, to_storage
from gridgis.errors import CRSError, ValidationError

#: OSM road kinds nobody walks along
NOT_WALKABLE = ("rail", "ferry", "aerialway", "highway")
#: node coordinates are rounded to this (metres) so pieces that meet at a tile edge join
SNAP_M = 0.05


@dataclass
class RoadNetwork:
    """A noded road graph in a metric CRS.

    Attributes
    ----------
    graph : networkx.Graph
        Nodes are integers ``0..n-1``; edges carry ``length`` in metres.
    node_xy : numpy.ndarray
        ``(n, 2)`` node coordinates in ``crs``.
    crs : str
        The metric CRS of ``node_xy`` (``EPSG:45xx``).
    edges : numpy.ndarray
        ``(m, 2)`` node index pairs, one per noded segment.
    """

    graph: nx.Graph
    node_xy: np.ndarray
    crs: str
    edges: np.ndarray

    @property
    def node_points(self) -> np.ndarray:
        return shapely.points(self.node_xy)

    def snap(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node of each point (points in :attr:`crs`); returns node indices and distances (m)."""
        points = np.asarray(points)
        if len(points) == 0:
            return np.zeros(0, dtype=int), np.zeros(0)
        tree = shapely.STRtree(self.node_points)
        idx = tree.nearest(points)
        dist = shapely.distance(points, self.node_points[idx])
        return np.asarray(idx, dtype=int), np.asarray(dist, dtype=float)


def read_osm_roads(
    path: str | Path, exclude_kinds: tuple[str, ...] = NOT_WALKABLE, crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read tile-clipped OSM roads (Tilezen ``kind``/``id`` columns), one row per OSM way, in EPSG:4326.

    Pieces of one way that were cut at tile edges share an ``id``; they are merged into one
    (Multi)LineString. Rows of a kind in ``exclude_kinds`` are dropped. The CRS is the file's own
    (GeoJSON: WGS84) or ``crs`` (which must agree with it); a file that says none, read without
    ``crs``, is refused with a :class:`gridgis.errors.CRSError` naming it (never guessed).
    """
    with warnings.catch_warnings():  # GDAL notes the repeated ids of tile-clipped pieces: expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        frame = gpd.read_file(path, engine="pyogrio")
    if frame.crs is None and crs is None:
        raise CRSError(
            f"roads {path}: the file does not say which CRS its coordinates are in; "
            "give it (--crs wgs84, gcj02, bd09, cgcs2000 or EPSG:nnnn)"
        )
    frame = to_storage(frame, crs if crs is not None else frame.crs.to_string())
    if "kind" in frame.columns:
        frame = frame[~frame["kind"].isin(exclude_kinds)]
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if "id" in frame.columns:
        keep = [c for c in ("name", "kind", "kind_detail", "highway", "fclass") if c in frame.columns]
        merged = frame.groupby("id", sort=False).agg(
            {"geometry": lambda g: shapely.line_merge(shapely.union_all(g.values))} | {c: "first" for c in keep}
        )
        frame = gpd.GeoDataFrame(merged.reset_index(), geometry="geometry", crs=STORAGE_CRS)
    return frame


def build_road_network(roads: gpd.GeoDataFrame, metric_crs: str | None = None) -> RoadNetwork:
    """Node ``roads`` (EPSG:4326 lines) at every intersection and build a length-weighted graph.

    Parameters
    ----------
    roads : GeoDataFrame
        Lines in EPSG:4326 (for OSM tiles, read them with :func:`read_osm_roads` first).
    metric_crs : str, optional
        The metric CRS to work in; default :func:`gridgis.crs.metric_crs_for` the roads.

    Returns
    -------
    RoadNetwork

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(121.50, 31.23), (121.51, 31.23)]),
    ...                                    shapely.LineString([(121.505, 31.225), (121.505, 31.235)])],
    ...                          crs="EPSG:4326")
    >>> net = build_road_network(roads)
    >>> net.graph.number_of_nodes(), net.graph.number_of_edges()
    (5, 4)
    """
    roads = ensure_storage_crs(roads, what="roads")
    lines = roads.geometry[roads.geometry.notna() & ~roads.geometry.is_empty]
    lines = lines[lines.geom_type.isin(["LineString", "MultiLineString"])]
    if len(lines) == 0:
        raise ValidationError("roads: no line geometries to build a network from; load a road layer with lines")
    crs = metric_crs or metric_crs_for(lines)
    metric = lines.to_crs(crs).values
    noded = shapely.node(shapely.union_all(metric))
    parts = shapely.get_parts(noded)
    parts = parts[shapely.length(parts) > 0]
    coords, index = shapely.get_coordinates(parts, return_index=True)
    keys = np.round(coords / SNAP_M).astype(np.int64)
    uniq, node_of = np.unique(keys, axis=0, return_inverse=True)
    node_of = node_of.ravel()
    node_xy = uniq.astype(float) * SNAP_M
    same_part = index[1:] == index[:-1]
    a = node_of[:-1][same_part]
    b = node_of[1:][same_part]
    seg_len = np.hypot(*(coords[1:][same_part] - coords[:-1][same_part]).T)
    keep = a != b
    a, b, seg_len = a[keep], b[keep], seg_len[keep]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(node_xy)))
    for u, v, w in zip(a.tolist(), b.tolist(), seg_len.tolist()):
        if graph.has_edge(u, v):
            graph[u][v]["length"] = min(graph[u][v]["length"], w)
        else:
            graph.add_edge(u, v, length=w)
    # drop nodes that only carry a bend (degree 2) would save memory but keep it simple and exact
    isolated = [n for n in graph.nodes if graph.degree(n) == 0]
    graph.remove_nodes_from(isolated)
    edges = np.array(list(graph.edges()), dtype=int).reshape(-1, 2)
    return RoadNetwork(graph=graph, node_xy=node_xy, crs=crs, edges=edges)


def network_distances(network: RoadNetwork, sources_xy: np.ndarray, cutoff_m: float) -> dict[int, float]:
    """Shortest walking distance (m) from the nearest of ``sources_xy`` to every node within ``cutoff_m``.

    The walk from each source to its nearest node counts (straight line).
    """
    sources_xy = np.asarray(sources_xy, dtype=float).reshape(-1, 2)
    if len(sources_xy) == 0:
        return {}
    nodes, snap = network.snap(shapely.points(sources_xy))
    start: dict[int, float] = {}
    for n, d in zip(nodes.tolist(), snap.tolist()):
        if d <= cutoff_m and d < start.get(n, np.inf):
            start[n] = d
    if not start:
        return {}
    g = network.graph
    source = -1
    g.add_node(source)
    try:
        for n, d in start.items():
            g.add_edge(source, n, length=d)
        dist = nx.single_source_dijkstra_path_length(g, source, cutoff=cutoff_m, weight="length")
    finally:
        g.remove_node(source)
    dist.pop(source, None)
    return dist
