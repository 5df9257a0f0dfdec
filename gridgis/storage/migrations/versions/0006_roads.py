"""Roads: the reference table of road centre lines and the log of its imports (GiST index on PostGIS).

See :mod:`gridgis.storage.roads` (why a reference table, not a versioned layer).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.storage.roads import import_columns, road_columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("road_imports", *import_columns(), sa.PrimaryKeyConstraint("id", name="pk_road_imports"))
    # the foreign key named by the metadata's convention (a Column's own ForeignKey would not be)
    columns = [
        sa.Column("import_id", sa.BigInteger, nullable=False) if c.name == "import_id" else c for c in road_columns()
    ]
    op.create_table(
        "roads",
        *columns,
        sa.PrimaryKeyConstraint("id", name="pk_roads"),
        sa.ForeignKeyConstraint(["import_id"], ["road_imports.id"], name="fk_roads_import_id_road_imports"),
    )
    op.create_index("ix_roads_bbox", "roads", ["min_lon", "max_lon", "min_lat", "max_lat"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_roads_geometry", "roads", ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("roads")
    op.drop_table("road_imports")
