"""Reading the past: per-feature history, the diff of two generations, the state of a generation."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from gridgis.crs import STORAGE_CRS
from gridgis.layers import LAYERS
from gridgis.storage.queries import _ROW_COLUMNS, alive_in, fetch_rows
from gridgis.storage.rows import same_feature
from gridgis.storage.schema import features, generations

DIFF_COLUMNS = [
    "layer",
    "code",
    "name",
    "op",
    "version_a",
    "version_b",
    "properties_a",
    "properties_b",
    "geometry_a",
    "geometry",
]
_LAYER_RANK = {layer: i for i, layer in enumerate(LAYERS)}


def feature_history(conn: sa.Connection, layer: str, code: str) -> list[dict[str, Any]]:
    """Every stored version of ``layer``/``code``, oldest first (see ``Repository.feature_history``)."""
    later = sa.alias(generations, "later")
    ended_in = sa.select(sa.func.min(later.c.id)).where(later.c.id > features.c.generation_high).scalar_subquery()
    stmt = (
        sa.select(
            features.c.version,
            features.c.generation_low,
            features.c.generation_high,
            features.c.name,
            features.c.parent_code,
            features.c.properties,
            features.c.geometry,
            generations.c.created_at,
            generations.c.author,
            generations.c.message,
            ended_in.label("ended_in"),
        )
        .join(generations, generations.c.id == features.c.generation_low)
        .where(features.c.layer == layer, features.c.code == code)
        .order_by(features.c.generation_low, features.c.version)
    )
    out = []
    for r in conn.execute(stmt).mappings():
        out.append(
            {
                "layer": layer,
                "code": code,
                "version": int(r["version"]),
                "generation": int(r["generation_low"]),
                "created_at": r["created_at"],
                "author": r["author"],
                "message": r["message"],
                "name": r["name"],
                "parent_code": r["parent_code"],
                "properties": r["properties"],
                "geometry": r["geometry"],
                "ended_in": None if r["generation_high"] is None else int(r["ended_in"]),
            }
        )
    return out


def _only_in(conn: sa.Connection, keep: int, drop: int, layer: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    where = [alive_in(keep), sa.not_(alive_in(drop))]
    if layer is not None:
        where.append(features.c.layer == layer)
    return {(r["layer"], r["code"]): r for r in fetch_rows(conn, sa.select(*_ROW_COLUMNS).where(*where))}


def diff(conn: sa.Connection, gen_a: int, gen_b: int, layer: str | None = None) -> gpd.GeoDataFrame:
    """Features that differ between two generations (see ``Repository.diff``)."""
    in_a = _only_in(conn, gen_a, gen_b, layer)
    in_b = _only_in(conn, gen_b, gen_a, layer)
    records: list[dict[str, Any]] = []
    for key in sorted(set(in_a) | set(in_b), key=lambda k: (_LAYER_RANK.get(k[0], 99), k[1])):
        a, b = in_a.get(key), in_b.get(key)
        if a is not None and b is not None and same_feature(a, b):
            continue
        op = "added" if a is None else "removed" if b is None else "changed"
        last = b if b is not None else a
        assert last is not None
        records.append(
            {
                "layer": key[0],
                "code": key[1],
                "name": last["name"],
                "op": op,
                "version_a": None if a is None else int(a["version"]),
                "version_b": None if b is None else int(b["version"]),
                "properties_a": None if a is None else a["properties"],
                "properties_b": None if b is None else b["properties"],
                "geometry_a": None if a is None else a["geometry"],
                "geometry": last["geometry"],
            }
        )
    frame = pd.DataFrame(records, columns=DIFF_COLUMNS)
    for col in ("version_a", "version_b"):
        frame[col] = frame[col].astype("Int64")
    frame["geometry_a"] = gpd.GeoSeries(frame["geometry_a"].tolist(), index=frame.index, crs=STORAGE_CRS)
    return gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(frame["geometry"].tolist(), index=frame.index, crs=STORAGE_CRS), crs=STORAGE_CRS
    )


def state_rows(conn: sa.Connection, generation: int) -> dict[str, list[dict[str, Any]]]:
    """Every layer's rows as they were in ``generation`` (empty lists for empty layers)."""
    out: dict[str, list[dict[str, Any]]] = {layer: [] for layer in LAYERS}
    stmt = sa.select(*_ROW_COLUMNS).where(alive_in(generation)).order_by(features.c.layer, features.c.code)
    for row in fetch_rows(conn, stmt):
        out.setdefault(row["layer"], []).append(
            {
                k: row[k]
                for k in (
                    "code",
                    "name",
                    "parent_code",
                    "properties",
                    "geometry",
                    "wkb",
                    "min_lon",
                    "min_lat",
                    "max_lon",
                    "max_lat",
                )
            }
        )
    return out
