"""Tickets: the closed loop's tickets and their recorded transitions (GiST index on PostGIS).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gridgis.tickets.tables import TICKET_INDEXES, event_columns, ticket_columns

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table("tickets", *ticket_columns(), sa.PrimaryKeyConstraint("id", name="pk_tickets"))
    for name, cols in TICKET_INDEXES:
        op.create_index(name, "tickets", cols)
    if postgres:
        op.create_index("ix_tickets_geometry", "tickets", ["geometry"], postgresql_using="gist")
    op.create_table(
        "ticket_events",
        *event_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_events"),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_ticket_id_seq"),
    )


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_table("tickets")
