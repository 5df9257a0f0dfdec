"""Tickets partitioned by month on PostgreSQL (existing rows moved), an index by street code.

PostgreSQL: ``tickets`` becomes ``PARTITION BY RANGE (received_at)`` with one partition per
month of Asia/Shanghai that holds tickets, the current month and the next two, and a default
partition (see :mod:`gridgis.storage.partitions`); the rows are copied over in this transaction,
ids keep their sequence, the primary key becomes ``(id, received_at)`` and the foreign key of
``ticket_events`` is dropped (it cannot point at a partitioned table's ``id`` alone). Every
index of the table is recreated on the parent (so on each partition) after the copy, plus
``ix_tickets_street_code``. SQLite keeps its plain table and only gains the street index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gridgis.tickets.tables import STREET_INDEX, TICKET_INDEXES

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 2


def _indexes() -> None:
    for name, cols in (*TICKET_INDEXES, STREET_INDEX):
        op.create_index(name, "tickets", cols)
    op.create_index("ix_tickets_geometry", "tickets", ["geometry"], postgresql_using="gist")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index(STREET_INDEX[0], "tickets", STREET_INDEX[1])
        return
    from gridgis.storage.partitions import DEFAULT_PARTITION, create_month, month_of, next_month

    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('tickets', 'id')")).scalar_one()
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("ALTER TABLE tickets RENAME TO tickets_unpartitioned")
    op.execute("CREATE TABLE tickets (LIKE tickets_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (received_at)")
    months = set(
        bind.execute(
            sa.text(
                "SELECT DISTINCT to_char(received_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') FROM tickets_unpartitioned"
            )
        ).scalars()
    )
    now = month_of(datetime.now(UTC))
    months |= {next_month(now, step) for step in range(MONTHS_AHEAD + 1)}
    for month in sorted(months):
        create_month(bind, month)
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF tickets DEFAULT")
    op.execute("INSERT INTO tickets SELECT * FROM tickets_unpartitioned")
    op.execute("DROP TABLE tickets_unpartitioned CASCADE")  # with it, the foreign key of ticket_events
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY tickets.id")
    op.create_primary_key("pk_tickets", "tickets", ["id", "received_at"])
    _indexes()
    op.execute("ANALYZE tickets")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.drop_index(STREET_INDEX[0], "tickets")
        return
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('tickets', 'id')")).scalar_one()
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("ALTER TABLE tickets RENAME TO tickets_partitioned")
    op.execute("CREATE TABLE tickets (LIKE tickets_partitioned INCLUDING DEFAULTS)")
    op.execute("INSERT INTO tickets SELECT * FROM tickets_partitioned")
    op.execute("DROP TABLE tickets_partitioned CASCADE")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY tickets.id")
    op.create_primary_key("pk_tickets", "tickets", ["id"])
    for name, cols in TICKET_INDEXES:
        op.create_index(name, "tickets", cols)
    op.create_index("ix_tickets_geometry", "tickets", ["geometry"], postgresql_using="gist")
    op.create_foreign_key(
        "ticket_events_ticket_id_fkey", "ticket_events", "tickets", ["ticket_id"], ["id"], ondelete="CASCADE"
    )
