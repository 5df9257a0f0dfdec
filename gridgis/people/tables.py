"""The tables of the people area on the shared storage metadata (created by migration ``0004_people``).

One function per table builds its columns, so the migration creates exactly the same tables:

- ``people_orgs``: the party organisation network (street working committee → … → central household)
  and the co-building units (共驻共建单位), persisted from the alignment's party tree and editable;
- ``people_persons``: members of the four kinds, grid workers, volunteers and contacts, each placed
  (building, micro-grid, grid, community, street) through the routing index, or kept unplaced with the reason;
- ``people_assignments``: who answers for which patch, building, unit, household group or micro-grid;
- ``people_wishes`` and ``people_wish_events``: residents' small wishes (微心愿) and their history;
- ``people_activities``: recorded activities the star points are computed from;
- ``people_care`` and ``people_door_tasks``: the care register and door-knocking tasks;
- ``people_intake``: 12345 work orders, idempotent on the order number, queued when unresolved.
"""

from __future__ import annotations

import sqlalchemy as sa

from gridgis.storage.schema import BigIntPK, JSONType, UTCDateTime, metadata


def _id() -> sa.Column:
    return sa.Column("id", BigIntPK, primary_key=True, autoincrement=True)


def _placement() -> list[sa.Column]:
    """Where something is: building/unit, compound and the grid hierarchy, and the point (EPSG:4326)."""
    return [
        sa.Column("building_code", sa.String(64), nullable=True),
        sa.Column("unit", sa.Integer, nullable=True),
        sa.Column("compound_code", sa.String(64), nullable=True),
        sa.Column("micro_grid_code", sa.String(32), nullable=True),
        sa.Column("grid_code", sa.String(32), nullable=True),
        sa.Column("community_code", sa.String(32), nullable=True),
        sa.Column("street_code", sa.String(32), nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
    ]


def org_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("code", sa.String(80), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_code", sa.String(80), nullable=True),
        sa.Column("community_code", sa.String(32), nullable=True),
        sa.Column("street_code", sa.String(32), nullable=True),
        sa.Column("compounds", JSONType, nullable=False),
        sa.Column("grids", JSONType, nullable=False),
        sa.Column("building_code", sa.String(64), nullable=True),
        sa.Column("households", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.String(16), nullable=False, server_default="party_tree"),
        sa.Column("properties", JSONType, nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    ]


def person_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("ref", sa.String(64), nullable=True, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("member_kind", sa.String(16), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("employer", sa.Text, nullable=True),
        sa.Column("post", sa.Text, nullable=True),
        sa.Column("org_code", sa.String(80), nullable=True),
        sa.Column("account", sa.String(200), nullable=True),
        *_placement(),
        sa.Column("placed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("unplaced_reason", sa.Text, nullable=True),
        sa.Column("available", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("extra", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def assignment_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people_persons.id", ondelete="CASCADE"), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("grid_code", sa.String(32), nullable=True),
        sa.Column("community_code", sa.String(32), nullable=True),
        sa.Column("flag", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    ]


def wish_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("resident", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("posted_by", sa.String(200), nullable=False),
        *_placement(),
        sa.Column("org_code", sa.String(80), nullable=True),
        sa.Column("claimed_by", sa.BigInteger, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    ]


def wish_event_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("wish_id", sa.BigInteger, sa.ForeignKey("people_wishes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    ]


def activity_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("person_id", sa.BigInteger, sa.ForeignKey("people_persons.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False, server_default="1"),
        sa.Column("ref", sa.String(80), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    ]


def care_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("resident", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("needs", sa.Text, nullable=False, server_default=""),
        *_placement(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def door_task_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("micro_grid_code", sa.String(32), nullable=False),
        sa.Column("building_code", sa.String(64), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    ]


def intake_columns() -> list[sa.Column]:
    return [
        _id(),
        sa.Column("order_no", sa.String(64), nullable=False, unique=True),
        sa.Column("called_at", UTCDateTime(), nullable=True),
        sa.Column("content", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("category", sa.Text, nullable=True),
        sa.Column("matter_code", sa.String(8), nullable=True),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("ticket_id", sa.BigInteger, nullable=True),
        sa.Column("raw", JSONType, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


#: (table name, columns function, indexes as (name, columns))
TABLES: tuple[tuple[str, object, tuple[tuple[str, list[str]], ...]], ...] = (
    ("people_orgs", org_columns, (("ix_people_orgs_community_code", ["community_code"]),)),
    (
        "people_persons",
        person_columns,
        (
            ("ix_people_persons_building_code", ["building_code"]),
            ("ix_people_persons_micro_grid_code", ["micro_grid_code"]),
            ("ix_people_persons_community_code", ["community_code"]),
        ),
    ),
    (
        "people_assignments",
        assignment_columns,
        (("ix_people_assignments_person_id", ["person_id"]), ("ix_people_assignments_target", ["target"])),
    ),
    ("people_wishes", wish_columns, (("ix_people_wishes_status", ["status"]),)),
    ("people_wish_events", wish_event_columns, (("ix_people_wish_events_wish_id", ["wish_id"]),)),
    ("people_activities", activity_columns, (("ix_people_activities_person_id", ["person_id"]),)),
    ("people_care", care_columns, (("ix_people_care_building_code", ["building_code"]),)),
    ("people_door_tasks", door_task_columns, (("ix_people_door_tasks_micro_grid_code", ["micro_grid_code"]),)),
    ("people_intake", intake_columns, (("ix_people_intake_status", ["status"]),)),
)

_T = {name: sa.Table(name, metadata, *cols(), *(sa.Index(n, *c) for n, c in idx)) for name, cols, idx in TABLES}  # type: ignore[operator]
orgs = _T["people_orgs"]
persons = _T["people_persons"]
assignments = _T["people_assignments"]
wishes = _T["people_wishes"]
wish_events = _T["people_wish_events"]
activities = _T["people_activities"]
care = _T["people_care"]
door_tasks = _T["people_door_tasks"]
intake = _T["people_intake"]


def ensure_tables(engine: sa.Engine) -> None:
    """Create the people tables when absent (stores not created by the migrations)."""
    metadata.create_all(engine, tables=list(_T.values()))


__all__ = [
    "TABLES",
    "activities",
    "assignments",
    "care",
    "door_tasks",
    "ensure_tables",
    "intake",
    "orgs",
    "persons",
    "wish_events",
    "wishes",
]
