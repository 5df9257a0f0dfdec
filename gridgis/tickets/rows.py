"""Conversions between :class:`~gridgis.tickets.loop.Ticket` and rows of the ``tickets`` table."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import shapely

from gridgis.errors import ValidationError
from gridgis.tickets.loop import Ticket

_TICKET_FIELDS = [f.name for f in fields(Ticket)]


def _row_to_ticket(row: Any) -> Ticket:
    m = row._mapping
    return Ticket(**{k: m[k] for k in _TICKET_FIELDS if k in m})


def _ticket_values(t: Ticket) -> dict[str, Any]:
    values = {k: getattr(t, k) for k in _TICKET_FIELDS if k != "id"}
    values["geometry"] = shapely.Point(t.lon, t.lat)
    return values


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return _now()
    if at.tzinfo is None:
        raise ValidationError(f"time {at.isoformat()} has no time zone; give an offset (e.g. +08:00) or Z")
    return at.astimezone(UTC)
