"""SQLite's spatial index of features: an R*Tree of every row's bounding box.

SQLite only (PostGIS has had its GiST index since 0001): creates ``features_rtree`` and its triggers
(:data:`gridgis.storage.schema.SQLITE_SPATIAL_INDEX`) and fills it from the rows already stored
(:data:`~gridgis.storage.schema.SQLITE_INDEX_NEW_ROWS`), in the migration's transaction; from then on
every write of features fills it (``gridgis.storage.queries._store``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.storage.schema import SQLITE_INDEX_NEW_ROWS, SQLITE_SPATIAL_INDEX, SQLITE_SPATIAL_INDEX_DROP

revision = "0007"
down_revision = "0006"
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
    bind.execute(sa.text(SQLITE_INDEX_NEW_ROWS), {"after": 0})


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in SQLITE_SPATIAL_INDEX_DROP:
        bind.exec_driver_sql(statement)
