"""Plain-dict views of tickets and events for the API and CLI (times in Asia/Shanghai, ISO 8601)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridgis.tickets.calendar import SHANGHAI, calendar_warning, default_calendar
from gridgis.tickets.catalogue import Catalogue
from gridgis.tickets.loop import ACTION_LABELS, DUE_FIELDS, LEVEL_LABELS, STATES, Event, Ticket, allowed_actions


def iso(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat() if value is not None else None


def ticket_dict(t: Ticket, catalogue: Catalogue | None = None, people: bool = True) -> dict[str, Any]:
    """A ticket as JSON-ready dict (with Chinese labels, deadlines, on-time flag, next actions).

    ``people=False`` (a caller who may not see personal data) leaves out the assignee's name.
    """
    item = catalogue.item(t.matter_code) if catalogue is not None and catalogue.has(t.matter_code) else None
    dues = [d for d in (getattr(t, k) for k in DUE_FIELDS) if d is not None]
    warning = (
        calendar_warning(default_calendar(), t.received_at, max(dues, default=t.received_at)) if t.received_at else None
    )
    return {
        "id": t.id,
        "status": t.status,
        "status_label": STATES.get(t.status),
        "version": t.version,
        "matter_code": t.matter_code,
        "matter_name": item.name if item else None,
        "tier": item.tier if item else None,
        "department": t.department,
        "description": t.description,
        "address": t.address,
        "channel": t.channel,
        "external_id": t.external_id,
        "point": {"lon": t.lon, "lat": t.lat, "crs": "EPSG:4326"},
        "micro_grid_code": t.micro_grid_code,
        "grid_code": t.grid_code,
        "community_code": t.community_code,
        "street_code": t.street_code,
        "snapped": t.snapped,
        "distance_m": t.distance_m,
        "level": t.level,
        "level_label": LEVEL_LABELS.get(t.level),
        "assignee": t.assignee if people else None,
        "received_at": iso(t.received_at),
        **{k: iso(getattr(t, k)) for k in DUE_FIELDS},
        "accepted_at": iso(t.accepted_at),
        "resolved_at": iso(t.resolved_at),
        "closed_at": iso(t.closed_at),
        "close_reason": t.close_reason,
        "master_id": t.master_id,
        "rating": t.rating,
        "escalations": t.escalations,
        "overdue": t.overdue,
        "on_time": t.on_time,
        "updated_at": iso(t.updated_at),
        "allowed_actions": allowed_actions(t.status),
        "warnings": [warning] if warning else [],  # e.g. deadlines counted in a year whose holidays are unknown
    }


#: event data that names or reaches people
PERSONAL_EVENT_DATA = frozenset({"on_behalf_of", "assignee", "reporter", "phone", "email", "name"})


def event_dict(e: Event, people: bool = True) -> dict[str, Any]:
    """An event as JSON-ready dict; ``people=False`` leaves out who acted, the free-text note (it
    often names residents and phone numbers) and the personal keys of its data."""
    data = e.data if people else {k: v for k, v in (e.data or {}).items() if k not in PERSONAL_EVENT_DATA}
    return {
        "action": e.action,
        "action_label": ACTION_LABELS.get(e.action),
        "from": e.from_status,
        "to": e.to_status,
        "actor": e.actor if people else None,
        "at": iso(e.at),
        "note": e.note if people else "",
        "data": data,
    }
