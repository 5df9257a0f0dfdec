"""Tickets (接诉即办) and the matter catalogue."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gridgis.api.schemas.common import PROBLEM_JSON, FeatureCollection, Open, Problem, documented


class Domain(Open):
    code: str
    name: str


class Matters(Open):
    name: str | None = None
    version: Any = None
    domains: list[Domain]
    items: list[dict[str, Any]]


class TicketPoint(Open):
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None


class Duplicate(Open):
    id: int
    status: str
    distance_m: float


class Event(Open):
    action: str
    action_label: str | None = None
    actor: str | None = None
    at: str | None = None
    note: str | None = None


class TicketOut(Open):
    """A ticket with labels, routing, deadlines and (on create) likely duplicates."""

    id: int
    status: str
    status_label: str | None = None
    version: int
    matter_code: str | None = None
    matter_name: str | None = None
    department: str | None = None
    description: str | None = None
    point: TicketPoint | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    level: str | None = None
    received_at: str | None = None
    external_id: str | None = Field(None, description="the source system's reference (e.g. a 12345 order number)")
    duplicates: list[Duplicate] | None = None
    replayed: bool | None = Field(
        None, description="on POST /tickets: true when the report was already stored under its external_id"
    )
    events: list[Event] | None = None


class ExternalIdConflict(Problem):
    """409: the report's external id is already a stored ticket whose content differs; nothing stored."""

    external_id: str = Field(description="the external id of the report")
    ticket_id: int = Field(description="the ticket already stored under it")
    fields: list[str] = Field(
        description="the compared fields that differ (matter_code, point, description, address, channel)"
    )


class TicketList(Open):
    count: int
    limit: int
    offset: int
    tickets: list[TicketOut]


class TicketStats(Open):
    """Per-area figures of a month (``format=json``); ``format=geojson`` answers a FeatureCollection."""

    month: str | None = None
    level: str | None = None
    rows: list[dict[str, Any]] | None = None
    type: str | None = None
    features: list[Any] | None = None


class Escalations(Open):
    escalated: int
    tickets: list[Any]


__all__ = ["Escalations", "FeatureCollection", "Matters", "TicketList", "TicketOut", "TicketStats"]


#: ``POST /tickets``: 201 a new ticket; 200 the stored ticket of a replayed external id; 409 its conflict
CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **documented(TicketOut, 201, description="Created: the new ticket (replayed: false)")["responses"],
    200: {
        **documented(
            TicketOut,
            200,
            description="The report was already stored under its external_id with the same content "
            "(matter, point, description, address, channel): the stored ticket, replayed: true; nothing written",
        )["responses"][200],
        "headers": {
            "Idempotent-Replayed": {
                "description": "true: this answer replays a stored report",
                "schema": {"type": "string"},
            }
        },
    },
    **documented(
        ExternalIdConflict,
        409,
        PROBLEM_JSON,
        description="The external_id is already a stored ticket with other content; nothing stored",
    )["responses"],
}
