"""Initial schema: generations and versioned features (GiST index on PostGIS).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.storage.schema import BigIntPK, GeometryType, JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "generations",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_generations"),
    )
    op.create_table(
        "features",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("layer", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.String(64), nullable=True),
        sa.Column("properties", JSONType, nullable=False),
        sa.Column("geometry", GeometryType(), nullable=False),
        sa.Column("min_lon", sa.Float, nullable=False),
        sa.Column("min_lat", sa.Float, nullable=False),
        sa.Column("max_lon", sa.Float, nullable=False),
        sa.Column("max_lat", sa.Float, nullable=False),
        sa.Column("generation_low", sa.BigInteger, nullable=False),
        sa.Column("generation_high", sa.BigInteger, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_features"),
        sa.ForeignKeyConstraint(["generation_low"], ["generations.id"], name="fk_features_generation_low_generations"),
        sa.ForeignKeyConstraint(
            ["generation_high"], ["generations.id"], name="fk_features_generation_high_generations"
        ),
    )
    op.create_index("ix_features_layer_code", "features", ["layer", "code"])
    op.create_index("ix_features_layer_generation_high", "features", ["layer", "generation_high"])
    op.create_index(
        "uq_features_current",
        "features",
        ["layer", "code"],
        unique=True,
        sqlite_where=sa.text("generation_high IS NULL"),
        postgresql_where=sa.text("generation_high IS NULL"),
    )
    if postgres:
        op.create_index("ix_features_geometry", "features", ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("features")
    op.drop_table("generations")
