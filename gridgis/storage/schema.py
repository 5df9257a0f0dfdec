"""The tables of the store, on one shared :data:`metadata`, and the column types both backends share.

Other parts of gridgis define their tables on the same :data:`metadata` in their own modules
(``from gridgis.storage.schema import metadata, UTCDateTime, GeometryType, JSONType``) and add an
Alembic migration under ``gridgis/storage/migrations/versions/`` that creates them.

Column types pick their storage by dialect, so there is one code path:

* :class:`GeometryType` — PostGIS ``geometry(GEOMETRY, 4326)`` (GeoAlchemy2) on PostgreSQL, a WKB
  blob on SQLite. Python values are shapely geometries (EPSG:4326 lon/lat) both ways.
* :class:`UTCDateTime` — timezone-aware UTC datetimes both ways (naive input is taken as UTC).
* :data:`JSONType` — ``JSONB`` on PostgreSQL, JSON text on SQLite.

The spatial index of ``features``: PostGIS's GiST index on ``geometry``; on SQLite the R*Tree
:data:`features_rtree` of every row's bounding box, filled in the transaction of each write of
``features`` (:data:`SQLITE_INDEX_NEW_ROWS`, run by ``queries._store``, which writes every row), and
a box query goes through it with :func:`sqlite_in_box`. Both are created by migrations.

The feature model follows mapit's generations: a row is one *version* of one feature and is
part of every generation ``g`` with ``generation_low <= g`` and (``generation_high`` is NULL or
``g <= generation_high``). Rows are never updated except to close them (set ``generation_high``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import geoalchemy2  # imported at once so its DDL event listeners see whole create/drop pairs
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

SRID = 4326

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: JSON stored as JSONB on PostgreSQL and as text on SQLite
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

#: integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class _geom_in(FunctionElement):
    """Wrap a WKB parameter: ``ST_GeomFromWKB(:p, 4326)`` on PostGIS, the blob itself on SQLite."""

    name = "geom_in"
    type = sa.LargeBinary()
    inherit_cache = True


class _geom_out(FunctionElement):
    """Read a geometry column as WKB: ``ST_AsBinary(col)`` on PostGIS, the blob itself on SQLite."""

    name = "geom_out"
    type = sa.LargeBinary()
    inherit_cache = True


@compiles(_geom_in)
@compiles(_geom_out)
def _passthrough(element: FunctionElement, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_geom_in, "postgresql")
def _pg_geom_in(element: FunctionElement, compiler: Any, **kw: Any) -> str:
    return f"ST_GeomFromWKB({compiler.process(element.clauses, **kw)}, {SRID})"


@compiles(_geom_out, "postgresql")
def _pg_geom_out(element: FunctionElement, compiler: Any, **kw: Any) -> str:
    return f"ST_AsBinary({compiler.process(element.clauses, **kw)})"


def wkb_column(column: Any) -> Any:
    """Select a geometry column as raw WKB bytes (no per-row parsing; parse many at once with
    ``shapely.from_wkb``). Labelled with the column's name."""
    return _geom_out(column).label(column.name)


class GeometryType(sa.types.TypeDecorator):
    """A geometry column in EPSG:4326: PostGIS geometry with SRID 4326, or a WKB blob on SQLite.

    Binds shapely geometries (or WKB bytes) and returns shapely geometries. The GiST index on
    PostGIS is created by the migration, not by the type.
    """

    impl = sa.LargeBinary
    cache_ok = True
    # read by GeoAlchemy2's DDL events: the migration creates the GiST index itself
    spatial_index = False
    geometry_type = "GEOMETRY"
    srid = SRID
    dimension = 2

    def load_dialect_impl(self, dialect: sa.Dialect | None) -> sa.types.TypeEngine[Any]:
        if dialect is None:  # GeoAlchemy2's DDL events ask without a dialect
            return sa.LargeBinary()
        if dialect.name == "postgresql":
            return dialect.type_descriptor(
                geoalchemy2.Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False)
            )
        return dialect.type_descriptor(sa.LargeBinary())

    def bind_expression(self, bindvalue: Any) -> Any:
        return _geom_in(bindvalue)

    def column_expression(self, col: Any) -> Any:
        element: Any = _geom_out(col)
        element.type = self  # results are processed by this type (WKB → shapely)
        return element

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        def process(value: Any) -> Any:
            if value is None or isinstance(value, bytes | bytearray | memoryview):
                return value
            if isinstance(value, str):
                value = shapely.from_wkt(value)
            return shapely.to_wkb(value)

        return process

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        def process(value: Any) -> Any:
            if value is None:
                return None
            return shapely.from_wkb(bytes(value) if isinstance(value, memoryview) else value)

        return process


class UTCDateTime(sa.types.TypeDecorator):
    """A UTC timestamp: ``timestamptz`` on PostgreSQL, ISO text on SQLite; always aware in Python."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


generations = sa.Table(
    "generations",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
)

features = sa.Table(
    "features",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.String(32), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("parent_code", sa.String(64), nullable=True),
    sa.Column("properties", JSONType, nullable=False),
    sa.Column("geometry", GeometryType(), nullable=False),
    # the bounding box, so that SQLite can pre-filter by bbox in SQL before the exact shapely test
    sa.Column("min_lon", sa.Float, nullable=False),
    sa.Column("min_lat", sa.Float, nullable=False),
    sa.Column("max_lon", sa.Float, nullable=False),
    sa.Column("max_lat", sa.Float, nullable=False),
    sa.Column("generation_low", sa.BigInteger, sa.ForeignKey("generations.id"), nullable=False),
    sa.Column("generation_high", sa.BigInteger, sa.ForeignKey("generations.id"), nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_features_layer_code", "layer", "code"),
    sa.Index("ix_features_layer_generation_high", "layer", "generation_high"),
    # one current row per feature: concurrent creates of the same code cannot both commit
    sa.Index(
        "uq_features_current",
        "layer",
        "code",
        unique=True,
        sqlite_where=sa.text("generation_high IS NULL"),
        postgresql_where=sa.text("generation_high IS NULL"),
    ),
)

#: SQLite's spatial index of ``features``: an R*Tree of each row's bounding box, by the row's id. Every row
#: (of every generation) is in it; R*Tree boxes are 32-bit floats rounded outwards, so a box query through
#: it is narrowed by the exact bounding-box columns (:func:`sqlite_in_box`)
features_rtree = sa.table(
    "features_rtree",
    sa.column("id", sa.Integer),
    sa.column("min_lon", sa.Float),
    sa.column("max_lon", sa.Float),
    sa.column("min_lat", sa.Float),
    sa.column("max_lat", sa.Float),
)

_BOX = "min_lon, max_lon, min_lat, max_lat"
_NEW_BOX = "new.id, new.min_lon, new.max_lon, new.min_lat, new.max_lat"
#: index the rows of ``features`` whose id is above ``:after`` (SQLite gives new rows ids above every id
#: so far): one statement after a write's inserts. Not a trigger: a city's first write (131,385
#: features) takes 5.3–7.0 s without the index, 12–16 s with an insert trigger, 7.5–9.1 s with this
SQLITE_INDEX_NEW_ROWS = (
    f"INSERT INTO features_rtree (id, {_BOX}) SELECT id, {_BOX} FROM features WHERE id > :after ORDER BY id"
)
#: the DDL of :data:`features_rtree` and of the triggers that keep it true when a row's box changes or a
#: row is deleted (gridgis does neither: rows are only closed; these guard hand edits of the store)
SQLITE_SPATIAL_INDEX = (
    f"CREATE VIRTUAL TABLE features_rtree USING rtree(id, {_BOX})",
    f"""CREATE TRIGGER features_rtree_update AFTER UPDATE OF id, {_BOX} ON features BEGIN
        DELETE FROM features_rtree WHERE id = old.id;
        INSERT INTO features_rtree (id, {_BOX}) VALUES ({_NEW_BOX});
    END""",
    """CREATE TRIGGER features_rtree_delete AFTER DELETE ON features BEGIN
        DELETE FROM features_rtree WHERE id = old.id;
    END""",
)
SQLITE_SPATIAL_INDEX_DROP = (
    "DROP TRIGGER IF EXISTS features_rtree_delete",
    "DROP TRIGGER IF EXISTS features_rtree_update",
    "DROP TABLE IF EXISTS features_rtree",
)


def sqlite_in_box(minx: float, miny: float, maxx: float, maxy: float) -> list[sa.ColumnElement[bool]]:
    """On SQLite, the conditions that keep the ``features`` rows whose bounding box meets the box: the
    row's id among :data:`features_rtree`'s hits, then the exact bounding-box columns. The caller must
    not also offer SQLite an index on ``layer`` (compare ``layer || ''``), or its planner may scan the
    layer's rows and test each id against the hits instead of fetching the hits by id."""
    r = features_rtree.c
    hits = sa.select(r.id).where(r.max_lon >= minx, r.min_lon <= maxx, r.max_lat >= miny, r.min_lat <= maxy)
    return [
        features.c.id.in_(hits),
        features.c.max_lon >= minx,
        features.c.min_lon <= maxx,
        features.c.max_lat >= miny,
        features.c.min_lat <= maxy,
    ]


__all__ = [
    "SQLITE_INDEX_NEW_ROWS",
    "SQLITE_SPATIAL_INDEX",
    "SQLITE_SPATIAL_INDEX_DROP",
    "SRID",
    "BigIntPK",
    "GeometryType",
    "JSONType",
    "UTCDateTime",
    "features",
    "features_rtree",
    "generations",
    "metadata",
    "sqlite_in_box",
    "wkb_column",
]
