"""Diffs between generations as changed pieces, with the households and tickets they affect.

Pure: takes the diff frame of :meth:`Repository.diff`, the buildings of the later generation
and (optionally) ticket points; returns a GeoJSON FeatureCollection (EPSG:4326 lon/lat).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import mapping

from gridgis.editing.changes import plain


def changed_piece(op: str, before: Any, after: Any) -> shapely.Geometry | None:
    """The area that changed hands: the whole feature when added/removed, else the symmetric difference."""
    if op == "added":
        return after
    if op == "removed":
        return after if before is None else before
    if before is None or after is None:
        return after or before
    if before.geom_type == "Point" or after.geom_type == "Point":
        return after if not shapely.equals(before, after) else None
    piece = shapely.symmetric_difference(before, after)
    return None if piece.is_empty else piece


def _households_in(piece: shapely.Geometry | None, buildings: gpd.GeoDataFrame | None) -> int:
    if piece is None or buildings is None or not len(buildings) or piece.geom_type == "Point":
        return 0
    points = shapely.point_on_surface(buildings.geometry.values)
    inside = shapely.intersects(piece, points)
    return int(pd.to_numeric(buildings["households"][inside], errors="coerce").fillna(0).sum())


def _tickets_in(piece: shapely.Geometry | None, tickets: pd.DataFrame | None) -> list[Any]:
    if piece is None or tickets is None or not len(tickets) or piece.geom_type == "Point":
        return []
    pts = shapely.points(tickets["lon"].to_numpy(float), tickets["lat"].to_numpy(float))
    return [plain(v) for v in tickets["id"][shapely.intersects(piece, pts)]]


def diff_geojson(
    diff: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None = None, tickets: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The changed pieces of a diff as GeoJSON features with ``households_affected`` and ``tickets_affected``.

    ``households_affected`` sums the households of buildings touching the piece (for grids the
    change of the grid's ``households`` attribute is given too, as ``households_a``/``households_b``).
    """
    features = []
    for _, row in diff.iterrows():
        before, after = row.get("geometry_a"), row.get("geometry")
        piece = changed_piece(row["op"], before, after)
        pa = row.get("properties_a") if isinstance(row.get("properties_a"), dict) else {}
        pb = row.get("properties_b") if isinstance(row.get("properties_b"), dict) else {}
        changed = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k)) if row["op"] == "changed" else []
        ticket_ids = _tickets_in(piece, tickets)
        props = {
            "layer": row["layer"],
            "code": row["code"],
            "name": plain(row.get("name")),
            "op": row["op"],
            "version_a": plain(row.get("version_a")),
            "version_b": plain(row.get("version_b")),
            "changed_properties": changed,
            "geometry_changed": piece is not None and row["op"] == "changed",
            "households_a": plain(pa.get("households")),
            "households_b": plain(pb.get("households")),
            "households_affected": _households_in(piece, buildings),
            "tickets_affected": len(ticket_ids),
            "ticket_ids": ticket_ids[:100],
        }
        features.append(
            {
                "type": "Feature",
                "id": f"{row['layer']}/{row['code']}",
                "geometry": mapping(piece) if piece is not None else None,
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}


def tickets_frame(engine: Any, bbox: tuple[float, float, float, float] | None) -> pd.DataFrame | None:
    """Ticket points (id, lon, lat, status, grid_code) inside ``bbox``; None when there is no tickets table."""
    import sqlalchemy as sa

    if bbox is None or not sa.inspect(engine).has_table("tickets"):
        return None
    from gridgis.tickets.tables import tickets as t  # the one definition of the tickets table

    q = sa.select(t.c.id, t.c.lon, t.c.lat, t.c.status, t.c.grid_code).where(
        t.c.lon.between(bbox[0], bbox[2]), t.c.lat.between(bbox[1], bbox[3])
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=["id", "lon", "lat", "status", "grid_code"])
