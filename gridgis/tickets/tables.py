"""The ``tickets`` and ``ticket_events`` tables, on the shared storage metadata.

Created by the Alembic migration ``0002`` (``gridgis/storage/migrations/versions/0002_tickets.py``);
on PostgreSQL ``tickets`` is partitioned by month since ``0005`` (:mod:`gridgis.storage.partitions`).
A ticket keeps its reported point twice: as a geometry (EPSG:4326, GiST-indexed on PostGIS) and
as ``lon``/``lat`` floats, so the same bounding-box prefilter runs on SQLite and PostGIS.
"""

from __future__ import annotations

import sqlalchemy as sa

from gridgis.storage.schema import BigIntPK, GeometryType, JSONType, UTCDateTime, metadata

#: the width of ``tickets.external_id`` (a longer one is refused at intake, never cut)
MAX_EXTERNAL_ID_CHARS = 100


def ticket_columns() -> list[sa.Column]:
    """The columns of ``tickets`` (a function so the migration builds the same table)."""
    return [
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("matter_code", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("reporter", sa.String(200), nullable=True),
        sa.Column("external_id", sa.String(MAX_EXTERNAL_ID_CHARS), nullable=True),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("geometry", GeometryType(), nullable=False),
        sa.Column("micro_grid_code", sa.String(32), nullable=True),
        sa.Column("grid_code", sa.String(32), nullable=True),
        sa.Column("community_code", sa.String(32), nullable=True),
        sa.Column("street_code", sa.String(32), nullable=True),
        sa.Column("snapped", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("distance_m", sa.Float, nullable=False, server_default="0"),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("respond_due", UTCDateTime(), nullable=True),
        sa.Column("reply_due", UTCDateTime(), nullable=True),
        sa.Column("coordinate_due", UTCDateTime(), nullable=True),
        sa.Column("solve_due", UTCDateTime(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("suspended_at", UTCDateTime(), nullable=True),
        sa.Column("resume_status", sa.String(16), nullable=True),
        sa.Column("close_reason", sa.String(16), nullable=True),
        sa.Column("master_id", sa.BigInteger, nullable=True),
        sa.Column("rating", sa.SmallInteger, nullable=True),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("overdue", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("extra", JSONType, nullable=True),
    ]


def event_columns() -> list[sa.Column]:
    """The columns of ``ticket_events``."""
    return [
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("data", JSONType, nullable=True),
    ]


TICKET_INDEXES = (
    ("ix_tickets_status", ["status"]),
    ("ix_tickets_grid_code", ["grid_code"]),
    ("ix_tickets_matter_code", ["matter_code"]),
    ("ix_tickets_received_at", ["received_at"]),
    ("ix_tickets_lon_lat", ["lon", "lat"]),
    ("ix_tickets_external_id", ["external_id"]),
)

#: added by migration 0005 (kept out of TICKET_INDEXES, which migration 0002 creates)
STREET_INDEX = ("ix_tickets_street_code", ["street_code"])

tickets = sa.Table(
    "tickets",
    metadata,
    *ticket_columns(),
    *(sa.Index(name, *cols) for name, cols in (*TICKET_INDEXES, STREET_INDEX)),
)

ticket_events = sa.Table(
    "ticket_events",
    metadata,
    *event_columns(),
    sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_ticket_id_seq"),
)


def ensure_tables(engine: sa.Engine) -> None:
    """Create the two tables when absent (for stores not created by the migrations)."""
    metadata.create_all(engine, tables=[tickets, ticket_events])
