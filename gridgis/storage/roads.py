"""Roads: the store's reference layer of road centre lines (created by migration ``0006_roads``).

Road centre lines (OSM/Tilezen ways) are what alignment divides open land along
(:mod:`gridgis.alignment.roads`). They are kept in a **reference table**, beside the versioned
``features``, not as a versioned layer, because they are not governed boundaries: they have no
code of the 12/15-digit scheme, no parent in the hierarchy, no coverage rule and no planner edits
them one by one; they come from outside (OpenStreetMap, a surveying office) and are refreshed as a
whole. As a layer of ``features`` every refresh would be a boundary generation (new tile ETags,
viewer caches reloaded, an entry in every layer's history) and every generation reader (OGC
collections, tiles, ``gridgis check``, ``export --all``) would carry tens of thousands of lines.

- ``road_imports``: one row per import (time, author, message, source file, its CRS, count): the
  record of which road set a proposal used (:meth:`RoadStore.current`);
- ``roads``: the lines of the current import (``import_id``), in EPSG:4326, with the OSM way id
  (``way_id``), ``name`` (Chinese names as the source spells them) and the columns the road rank
  reads (``kind``, ``kind_detail``, ``highway``, ``fclass``), and their bounding box.

An import (:meth:`RoadStore.replace`) replaces the whole set in one transaction, serialised like a
boundary write, with its audit entry (``roads.import``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

from gridgis.crs import CHINA_BOUNDS, STORAGE_CRS, ensure_storage_crs
from gridgis.errors import Problem, ValidationError
from gridgis.storage.schema import BigIntPK, GeometryType, UTCDateTime, metadata, wkb_column

#: the attribute columns kept of a road (what :func:`gridgis.alignment.roads.road_rank` reads, and its name)
ROAD_FIELDS = ("name", "kind", "kind_detail", "highway", "fclass")


def import_columns() -> list[sa.Column]:
    return [
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("source_crs", sa.String(64), nullable=False, server_default=""),
        sa.Column("roads", sa.Integer, nullable=False),
    ]


def road_columns() -> list[sa.Column]:
    return [
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.BigInteger, sa.ForeignKey("road_imports.id"), nullable=False),
        sa.Column("way_id", sa.String(64), nullable=True),
        *(sa.Column(f, sa.Text if f == "name" else sa.String(64), nullable=True) for f in ROAD_FIELDS),
        sa.Column("geometry", GeometryType(), nullable=False),
        sa.Column("min_lon", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lon", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
    ]


road_imports = sa.Table("road_imports", metadata, *import_columns())
roads = sa.Table("roads", metadata, *road_columns())


@dataclass(frozen=True)
class RoadImport:
    """One import of the road set: id, UTC time, author, message, source file, its CRS, number of lines."""

    id: int
    created_at: datetime
    author: str
    message: str
    source: str
    source_crs: str
    roads: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "author": self.author,
            "message": self.message,
            "source": self.source,
            "source_crs": self.source_crs,
            "roads": self.roads,
        }


def check_roads(frame: gpd.GeoDataFrame, what: str = "roads") -> gpd.GeoDataFrame:
    """The road frame as stored: EPSG:4326 (any other CRS, or none, refused), lines only, inside
    China's extent, at least one; ``way_id`` from an OSM ``id`` column, the :data:`ROAD_FIELDS` kept
    as text. Raises :class:`ValidationError` listing every bad row; nothing is changed."""
    frame = ensure_storage_crs(frame, what=what)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if not len(geoms):
        raise ValidationError(f"{what}: no road lines to store; give a file of LineStrings (OSM/Tilezen roads)")
    problems: list[Problem] = []
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    lines = ~empty & np.isin(shapely.get_type_id(geoms), (1, 5))  # LineString, MultiLineString
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[lines] = shapely.bounds(geoms[lines])
    with np.errstate(invalid="ignore"):
        outside = lines & (
            (bounds[:, 0] < CHINA_BOUNDS[0])
            | (bounds[:, 1] < CHINA_BOUNDS[1])
            | (bounds[:, 2] > CHINA_BOUNDS[2])
            | (bounds[:, 3] > CHINA_BOUNDS[3])
        )
    names = frame["name"].to_numpy(dtype=object) if "name" in frame.columns else np.full(len(frame), None)
    for i in np.flatnonzero(~lines | outside).tolist():
        label = f"row {i + 1}" + (f" ({names[i]})" if isinstance(names[i], str) and names[i] else "")
        if empty[i]:
            problems.append(Problem("geometry is missing or empty", feature=label, layer=what, kind="invalid_geometry"))
        elif not lines[i]:
            kind = geoms[i].geom_type
            problems.append(
                Problem(
                    f"geometry is a {kind}; roads are LineStrings",
                    feature=label,
                    layer=what,
                    kind="wrong_geometry_type",
                )
            )
        else:
            problems.append(
                Problem(
                    "coordinates lie outside China's extent (wrong CRS or swapped lon/lat?)",
                    feature=label,
                    layer=what,
                    kind="out_of_area",
                )
            )
    if problems:
        raise ValidationError(f"{what}: {len(problems)} problem(s) found; nothing was stored", problems)
    out = gpd.GeoDataFrame(index=range(len(frame)), geometry=list(geoms), crs=STORAGE_CRS)
    # object columns: a text column inferred by pandas would turn None into NaN (stored as 'NaN')
    blank = [None] * len(frame)
    out["way_id"] = pd.Series(_text(frame["id"]) if "id" in frame.columns else blank, dtype=object)
    for f in ROAD_FIELDS:
        out[f] = pd.Series(_text(frame[f]) if f in frame.columns else blank, dtype=object)
    return out[["way_id", *ROAD_FIELDS, "geometry"]]


def _text(column: pd.Series) -> list[str | None]:
    """Values as text, ``None`` for missing ones (an OSM id read as a float keeps no ``.0``)."""
    out: list[str | None] = []
    for v in column.to_numpy(dtype=object):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v))
    return out


def _import_from_row(row: Any) -> RoadImport:
    return RoadImport(
        int(row["id"]),
        row["created_at"],
        row["author"],
        row["message"],
        row["source"],
        row["source_crs"],
        int(row["roads"]),
    )


class RoadStore:
    """The roads of a :class:`~gridgis.storage.Repository` (see the module docstring)."""

    def __init__(self, repository: Any) -> None:
        self.repository = repository

    def current(self) -> RoadImport | None:
        """The import the stored roads come from (``None``: the store holds no roads)."""
        with self.repository._reading("reading the road import") as conn:
            row = conn.execute(sa.select(road_imports).order_by(road_imports.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _import_from_row(row)

    def imports(self) -> list[RoadImport]:
        """Every import, oldest first (the record of which road set was current when)."""
        with self.repository._reading("reading the road imports") as conn:
            rows = conn.execute(sa.select(road_imports).order_by(road_imports.c.id)).mappings().all()
        return [_import_from_row(r) for r in rows]

    def read(self, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame | None:
        """The stored roads (those whose box meets ``bbox``, lon/lat), in import order, as a frame in
        EPSG:4326 with ``id`` (the OSM way id), the :data:`ROAD_FIELDS` that hold any value and
        ``geometry``; ``None`` when the store holds no roads."""
        query = sa.select(roads.c.way_id, *(roads.c[f] for f in ROAD_FIELDS), wkb_column(roads.c.geometry)).order_by(
            roads.c.id
        )
        if bbox is not None:
            minx, miny, maxx, maxy = (float(b) for b in bbox)
            query = query.where(
                roads.c.min_lon <= maxx, roads.c.max_lon >= minx, roads.c.min_lat <= maxy, roads.c.max_lat >= miny
            )
        with self.repository._reading("reading the roads") as conn:
            held = conn.execute(sa.select(road_imports.c.id).limit(1)).first() is not None
            rows = conn.execute(query).all() if held else []
        if not held:
            return None
        geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else np.array([], dtype=object)
        data: dict[str, Any] = {"id": [r[0] for r in rows]}
        for k, f in enumerate(ROAD_FIELDS, start=1):
            values = [r[k] for r in rows]
            if any(v is not None for v in values):
                data[f] = values
        return gpd.GeoDataFrame(data, geometry=list(geoms), crs=STORAGE_CRS)

    def replace(
        self, frame: gpd.GeoDataFrame, author: str, message: str = "", source: str = "", source_crs: str = ""
    ) -> RoadImport:
        """Replace the stored roads by ``frame`` (checked by :func:`check_roads`) in one transaction,
        with its ``road_imports`` row and audit entry (action ``roads.import``, by ``author``)."""
        from gridgis.auth.store import audit_values
        from gridgis.auth.tables import audit_log

        if not str(author or "").strip():
            raise ValidationError("roads: an import needs an author")
        checked = check_roads(frame)
        geoms = np.asarray(checked.geometry.values, dtype=object)
        box = shapely.bounds(geoms)
        wkb = shapely.to_wkb(geoms)
        rows = [
            {
                "way_id": w,
                **{f: checked[f].iat[i] for f in ROAD_FIELDS},
                "geometry": wkb[i],
                "min_lon": float(box[i, 0]),
                "min_lat": float(box[i, 1]),
                "max_lon": float(box[i, 2]),
                "max_lat": float(box[i, 3]),
            }
            for i, w in enumerate(checked["way_id"])
        ]
        now = datetime.now(UTC)
        text = message or f"import {source or 'roads'}"
        with self.repository._writing("importing roads") as conn:
            import_id = conn.execute(
                road_imports.insert()
                .values(
                    created_at=now,
                    author=author,
                    message=text,
                    source=source,
                    source_crs=source_crs,
                    roads=len(rows),
                )
                .returning(road_imports.c.id)
            ).scalar_one()
            conn.execute(roads.delete())
            for row in rows:
                row["import_id"] = import_id
            for start in range(0, len(rows), 5000):
                conn.execute(roads.insert(), rows[start : start + 5000])
            conn.execute(
                audit_log.insert().values(
                    **audit_values(
                        author, "CLI", "import", "roads.import", 200, "roads", [], message=f"{text} ({len(rows)} roads)"
                    )
                )
            )
        return RoadImport(int(import_id), now, author, text, source, source_crs, len(rows))


__all__ = ["ROAD_FIELDS", "RoadImport", "RoadStore", "check_roads", "road_imports", "roads"]
