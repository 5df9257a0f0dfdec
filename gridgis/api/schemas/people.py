"""People answers that the people router builds as plain dicts or several media types
(the router's own pydantic models cover the rest)."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from gridgis.api.schemas.common import Open


class DoorTaskOut(Open):
    """A door-knocking task after it was marked done."""

    id: int
    micro_grid_code: str | None = None
    status: str | None = None


class Resolved(Open):
    """A queued 12345 order placed by a person: now a ticket."""

    order_no: str
    status: str
    ticket_id: int | None = None


class Roster(Open):
    """An emergency roster (平急转换) of an area: per micro-grid, its worker and members."""

    area: str
    kind: str
    kind_label: str | None = None
    summary: dict[str, Any] | None = None
    micro_grids: list[dict[str, Any]]


class IntakeOrder(Open):
    """One 12345 hotline work order (工单), as the hotline platform sends it."""

    order_no: str
    called_at: str | None = None
    content: str | None = None
    category: str | None = None
    address: str | None = None
    phone: str | None = None
    lon: float | None = None
    lat: float | None = None


class IntakeBatch(Open):
    orders: list[IntakeOrder]


class IntakeIn(RootModel[IntakeOrder | IntakeBatch | list[IntakeOrder]]):
    """One order, ``{"orders": [...]}`` or a list of orders; signed with ``X-Gridgis-Signature``."""
