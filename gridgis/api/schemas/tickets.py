"""Tickets (接诉即办) and the matter catalogue."""

from __future__ import annotations

from typing import Any

from gridgis.api.schemas.common import FeatureCollection, Open


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
    duplicates: list[Duplicate] | None = None
    events: list[Event] | None = None


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
