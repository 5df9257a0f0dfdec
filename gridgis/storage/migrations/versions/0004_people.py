"""People and organisations: the party network, persons, assignments, wishes, activities, care, 12345 intake.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.people.tables import TABLES

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, columns, indexes in TABLES:
        op.create_table(name, *columns(), sa.PrimaryKeyConstraint("id", name=f"pk_{name}"))  # type: ignore[operator]
        for index, cols in indexes:
            op.create_index(index, name, cols)


def downgrade() -> None:
    for name, _, _ in reversed(TABLES):
        op.drop_table(name)
