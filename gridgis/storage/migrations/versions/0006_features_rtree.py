"""SQLite's spatial index of features: an R*Tree of every row's bounding box, kept by triggers.

SQLite only (PostGIS has had its GiST index since 0001): creates ``features_rtree`` and its triggers
(:data:`gridgis.storage.schema.SQLITE_SPATIAL_INDEX`) and fills it from the rows already stored, in the
migration's transaction.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.storage.schema import SQLITE_SPATIAL_INDEX, SQLITE_SPATIAL_INDEX_DROP

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.gridgis_rtree_probe USING rtree(id, x0, x1)")
    except sa.exc.OperationalError as err:
        raise RuntimeError(
            f"this Python's SQLite ({bind.dialect.dbapi.sqlite_version}) has no R*Tree module, which gridgis's "  # type: ignore[union-attr]
            "SQLite store needs for its spatial index; use a Python built with SQLite's R*Tree (the usual builds are)"
        ) from err
    bind.exec_driver_sql("DROP TABLE temp.gridgis_rtree_probe")
    for statement in SQLITE_SPATIAL_INDEX:
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql(
        "INSERT INTO features_rtree (id, min_lon, max_lon, min_lat, max_lat) "
        "SELECT id, min_lon, max_lon, min_lat, max_lat FROM features"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in SQLITE_SPATIAL_INDEX_DROP:
        bind.exec_driver_sql(statement)
