"""API routes: tickets and the matter catalogue. Thin: parse, call the ticket store, answer.

- ``POST /tickets`` → 201 with the ticket and any open duplicates offered nearby; a report resent
  with a stored ``external_id`` → 200 with that ticket (``Idempotent-Replayed: true``), or 409 when
  its content differs (:mod:`gridgis.tickets.external_ids`)
- ``GET /tickets/{id}`` (with its history), ``GET /tickets?grid=&status=&matter=``
- ``POST /tickets/{id}/transitions`` (``If-Match: "<version>"`` or ``expected_version`` optional)
- ``POST /tickets/escalations`` (escalate overdue tickets now), ``GET /tickets/stats?month=&level=``
- ``GET /matters``
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gridgis.api.params import RowId
from gridgis.api.schemas.common import documented
from gridgis.api.schemas.tickets import CREATE_RESPONSES, Escalations, Matters, TicketList, TicketOut, TicketStats
from gridgis.auth.deps import AuditDep, CurrentPrincipal
from gridgis.auth.store import AuditLog
from gridgis.auth.tokens import Principal, require, sees_personal_data
from gridgis.errors import ForbiddenError, StorageUnavailableError, ValidationError
from gridgis.tickets.loop import Ticket
from gridgis.tickets.store import AuditHook, Authorize, TicketStore, scope_code
from gridgis.tickets.tables import MAX_EXTERNAL_ID_CHARS
from gridgis.tickets.views import event_dict, ticket_dict

router = APIRouter(tags=["tickets"])


def get_ticket_store(request: Request) -> TicketStore:
    """The app's ticket store (built on first use over ``app.state.repository``).

    ``app.state.ticket_router`` (optional) replaces the routing service, e.g. in tools; the
    settings ``ticket_catalogue`` (a planner's catalogue file) and ``working_hours``
    ("08:30-12:00,13:30-17:30") are optional.
    """
    state = request.app.state
    store = getattr(state, "ticket_store", None)
    if store is None:
        store = state.ticket_store = _make_store(state)
    return store


def _make_store(state: Any) -> TicketStore:
    from gridgis.tickets.calendar import make_calendar, parse_hours
    from gridgis.tickets.catalogue import load_catalogue

    path = getattr(state.settings, "ticket_catalogue", None)
    hours = getattr(state.settings, "working_hours", None)
    return TicketStore(
        state.repository,
        router=getattr(state, "ticket_router", None),
        catalogue=load_catalogue(path) if path else None,
        calendar=make_calendar(hours=parse_hours(hours)) if hours else None,
    )


StoreDep = Annotated[TicketStore, Depends(get_ticket_store)]


def _reporter(principal: CurrentPrincipal) -> Principal:
    """Creating a ticket needs a reporter (or worker, planner, admin) token: 401/403 before the body is used."""
    return require(principal, "report", None, "reporting a ticket")


def _handler(principal: CurrentPrincipal) -> Principal:
    """Handling tickets needs a worker or admin token (a planner may only merge across matters);
    checked before the body is read. The ticket's grid must then be in the token's scope."""
    if principal is not None and principal.can("merge_across_matters"):
        return principal
    return require(principal, "handle_tickets", None, "handling tickets")


def in_scope(principal: Principal, ticket: Ticket) -> bool:
    """The scope rule of tickets: the token's scope covers the ticket's grid (:func:`scope_code`);
    a reporter token without scope codes (a city-wide hotline) reports everywhere."""
    if principal.role == "reporter" and not principal.scopes:
        return True
    return principal.covers(scope_code(ticket))


def _authorize(principal: Principal, what: str) -> Authorize:
    """An ``authorize`` for the ticket store: 403 naming the ticket's code when it is out of scope."""

    def check(ticket: Ticket) -> None:
        if not in_scope(principal, ticket):
            where = scope_code(ticket) or "an unrouted place"
            name = f"ticket {ticket.id}" if ticket.id is not None else "the reported place"
            scopes = ", ".join(principal.scopes) or "none"
            raise ForbiddenError(
                f"{what}: {name} ({where}) is outside the scope of {principal.name} ({scopes}); "
                "ask an admin for a token that covers it"
            )

    return check


def audit_hook(request: Request, audit: AuditLog, who: Principal | str, status: int = 200) -> AuditHook:
    """The audit entry of a ticket write by ``who`` (a principal, or ``anonymous``) in its transaction."""

    def write(conn: Any, action: str, codes: list[str], message: str) -> None:
        codes = [c for c in codes if c]
        audit.record(
            who, request.method, request.url.path, action, status, "tickets", codes, message=message, conn=conn
        )

    return write


def _people(principal: Principal | None, ticket: Ticket) -> bool:
    return sees_personal_data(principal, "people_in_tickets", scope_code(ticket))


ReporterDep = Annotated[Principal, Depends(_reporter)]
HandlerDep = Annotated[Principal, Depends(_handler)]


def _ticket_handler(ticket_id: int, request: Request, principal: HandlerDep) -> Principal:
    """The handler of the ticket named in the path: role, then scope (403), before the body is read."""
    ticket = get_ticket_store(request).get(ticket_id)
    _authorize(principal, f"handling ticket {ticket_id}")(ticket)
    return principal


TicketHandlerDep = Annotated[Principal, Depends(_ticket_handler)]


def setup(app: Any) -> None:
    """Automatic escalation in the service when ``ticket_escalation_interval_s`` (setting) is > 0."""
    from gridgis.tickets.calendar import parse_hours
    from gridgis.tickets.catalogue import load_catalogue

    # a bad catalogue or working-hours setting stops the service at start, listing every problem,
    # instead of a healthy service whose every ticket call answers 422
    if getattr(app.state.settings, "ticket_catalogue", None):
        load_catalogue(app.state.settings.ticket_catalogue)
    if getattr(app.state.settings, "working_hours", None):
        try:
            parse_hours(app.state.settings.working_hours)
        except ValueError as exc:
            raise ValidationError(f"GRIDGIS_WORKING_HOURS: {exc}") from None
    every = float(getattr(app.state.settings, "ticket_escalation_interval_s", 0) or 0)
    if every <= 0:
        return

    def start() -> None:
        from gridgis.tickets.escalator import Escalator

        store = app.state.ticket_store = getattr(app.state, "ticket_store", None) or _make_store(app.state)
        app.state.ticket_escalator = Escalator(store, every).start()

    def stop() -> None:
        escalator = getattr(app.state, "ticket_escalator", None)
        if escalator is not None:
            escalator.stop()

    from contextlib import asynccontextmanager

    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> Any:  # the escalator lives as long as the service
        start()
        try:
            async with previous(application) as state:
                yield state
        finally:
            stop()

    app.router.lifespan_context = lifespan


class TicketIn(BaseModel):
    """A new report. Coordinates in ``crs`` (wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn)."""

    model_config = ConfigDict(extra="forbid")

    lon: float | None = Field(None, description="with lat; may be omitted when address names a compound/building")
    lat: float | None = None
    crs: str = "wgs84"
    matter_code: str | None = Field(None, description="M01..M28; guessed from the description when absent")
    description: str = Field("", max_length=5000)
    address: str | None = Field(None, max_length=500)
    channel: str = Field("api", max_length=32)
    reporter: str | None = Field(None, max_length=200)
    external_id: str | None = Field(
        None,
        max_length=MAX_EXTERNAL_ID_CHARS,
        description="the source system's reference (e.g. a 12345 order number): a report re-sent with the same "
        "content answers the stored ticket (200, Idempotent-Replayed: true); other content is a 409",
    )
    received_at: datetime | None = None
    duplicate_radius_m: float = Field(50.0, gt=0, le=5000)


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal[
        "triage",
        "dispatch",
        "accept",
        "resolve",
        "rate",
        "close",
        "send_back",
        "escalate",
        "suspend",
        "resume",
        "extend",
        "reopen",
        "merge",
    ]
    actor: str | None = Field(
        None,
        max_length=200,
        description="not the actor (that is always the token's holder): a name acted for, kept as on_behalf_of",
    )
    allow_other_matter: bool = Field(False, description="merge into a master of another matter (planner/admin)")
    note: str = Field("", max_length=5000)
    at: datetime | None = None
    rating: int | None = None
    master_id: int | None = None
    solve_due: datetime | str | None = Field(None, description="extend: a time, or a duration such as 2wd")
    level: str | None = None
    department: str | None = None
    assignee: str | None = None
    expected_version: int | None = None


def _version_from(if_match: str | None) -> int | None:
    if not if_match:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f'If-Match {if_match!r} is not a ticket version such as "3"') from None


@router.get("/matters", **documented(Matters))
def list_matters(store: StoreDep) -> dict[str, Any]:
    """The matter catalogue (吹哨报到事项清单): domains and items with departments, tiers and deadlines."""
    cat = store.catalogue
    return {
        "name": cat.name,
        "version": cat.version,
        "domains": [{"code": d.code, "name": d.name} for d in cat.domains],
        "items": cat.to_public(),
    }


#: response header of an answer that replays a report already stored under its external id
REPLAYED_HEADER = "Idempotent-Replayed"


@router.post("/tickets", status_code=201, responses=CREATE_RESPONSES, response_model=None)
def create_ticket(
    body: TicketIn, store: StoreDep, request: Request, response: Response, principal: ReporterDep, audit: AuditDep
) -> dict[str, Any]:
    """Report a problem: routed, given a matter, department, level and deadlines, and stored (201).

    Recorded under the token's holder; the routed place must be in its scope (403, nothing stored).
    A report whose ``external_id`` is already stored is not stored again
    (:mod:`gridgis.tickets.external_ids`): the same report (matter, point, description, address,
    channel) answers 200 with the stored ticket, ``"replayed": true`` and ``Idempotent-Replayed: true``;
    other content answers 409 naming the external id and the stored ticket, and stores nothing.
    """
    data = body.model_dump(exclude={"duplicate_radius_m", "lon", "lat"})
    made = store.submit(
        body.lon,
        body.lat,
        actor=principal.name,
        authorize=_authorize(principal, "reporting a ticket"),
        audit=audit_hook(request, audit, principal, 201),
        **data,
    )
    ticket = made.ticket
    if made.replayed:
        response.status_code = 200
        response.headers[REPLAYED_HEADER] = "true"
    response.headers["Location"] = f"/tickets/{ticket.id}"
    response.headers["ETag"] = f'"{ticket.version}"'
    out = ticket_dict(ticket, store.catalogue, people=_people(principal, ticket))
    out["replayed"] = made.replayed
    try:  # a suggestion read after the commit: the stored ticket is acknowledged even when it fails
        dups = store.find_duplicates(
            ticket.lon, ticket.lat, ticket.matter_code, radius_m=body.duplicate_radius_m, exclude_id=ticket.id
        )
        out["duplicates"] = [{"id": t.id, "status": t.status, "distance_m": d} for t, d in dups]
    except StorageUnavailableError:
        out["duplicates"] = None
        out["warnings"] = [
            *out.get("warnings", []),
            "possible duplicates could not be looked up (database unavailable)",
        ]
    return out


@router.get(
    "/tickets/stats",
    **documented(TicketStats),
)
def ticket_stats(
    store: StoreDep,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    level: Literal["micro_grid", "grid", "community", "street"] = "grid",
    format: Literal["json", "geojson"] = "json",
) -> Any:
    """Per-grid figures by month: volume, on-time rate, closure rate, satisfaction.

    ``format=geojson`` (needs ``month``) answers the areas of ``level`` as a FeatureCollection
    with the month's figures as properties: what the map colours grids by.
    """
    rows = store.statistics(month, level=level)
    if format == "json":
        return {"month": month, "level": level, "rows": rows}
    if month is None:
        raise ValidationError("format=geojson needs month=YYYY-MM (one month per map)")

    from gridgis.tickets.stats import statistics_frame

    layers = {"micro_grid": "micro_grids", "grid": "grids", "community": "communities", "street": "streets"}
    frame = statistics_frame(store.repository.read_layer(layers[level]), rows, level=level)
    return Response(frame.to_json(na="null", drop_id=True, ensure_ascii=False), media_type="application/geo+json")


@router.post("/tickets/escalations", **documented(Escalations))
def escalate_now(store: StoreDep, request: Request, principal: HandlerDep, audit: AuditDep) -> dict[str, Any]:
    """Escalate every overdue ticket in the caller's scope one level now (idempotent), as the caller."""
    require(principal, "handle_tickets", None, "escalating tickets")
    covers = None if principal.role == "admin" else principal.covers
    done = store.escalate_overdue(actor=principal.name, covers=covers, audit=audit_hook(request, audit, principal))
    return {"escalated": len(done), "tickets": done}


@router.get("/tickets", **documented(TicketList))
def list_tickets(
    store: StoreDep,
    principal: CurrentPrincipal,
    grid: str | None = None,
    status: str | None = None,
    matter: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Tickets, newest first; ``grid`` matches micro-grid, grid, community or street codes."""
    statuses = status.split(",") if status else None
    items = store.list(grid=grid, status=statuses, matter=matter, limit=limit, offset=offset)
    return {
        "count": len(items),
        "limit": limit,
        "offset": offset,
        "tickets": [ticket_dict(t, store.catalogue, people=_people(principal, t)) for t in items],
    }


@router.get("/tickets/{ticket_id}", **documented(TicketOut))
def get_ticket(ticket_id: RowId, store: StoreDep, response: Response, principal: CurrentPrincipal) -> dict[str, Any]:
    """One ticket with its full history (who, when, note, from, to); who and the notes only for the
    worker in scope and admins."""
    ticket = store.get(ticket_id)
    response.headers["ETag"] = f'"{ticket.version}"'
    people = _people(principal, ticket)
    out = ticket_dict(ticket, store.catalogue, people=people)
    out["events"] = [event_dict(e, people=people) for e in store.events(ticket_id)]
    return out


@router.post("/tickets/{ticket_id}/transitions", **documented(TicketOut))
def transition(
    ticket_id: RowId,
    body: TransitionIn,
    store: StoreDep,
    request: Request,
    response: Response,
    principal: TicketHandlerDep,
    audit: AuditDep,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Move a ticket along the loop; 409 with both states when the loop does not allow it.

    Recorded under the token's holder (``actor`` in the body is only kept as ``on_behalf_of``);
    the ticket (and a merge's master) must be in the token's scope.
    """
    merging_across = body.action == "merge" and body.allow_other_matter
    if body.allow_other_matter and not merging_across:
        raise ValidationError("allow_other_matter applies to merge only")
    if merging_across:
        require(principal, "merge_across_matters", None, "merging tickets of different matters")
    else:
        require(principal, "handle_tickets", None, f"{body.action} of ticket {ticket_id}")
    params = body.model_dump(
        exclude={"action", "actor", "note", "at", "expected_version", "allow_other_matter"}, exclude_none=True
    )
    expected = body.expected_version if body.expected_version is not None else _version_from(if_match)
    ticket = store.transition(
        ticket_id,
        body.action,
        actor=principal.name,
        note=body.note,
        at=body.at,
        expected_version=expected,
        authorize=_authorize(principal, f"{body.action} of ticket {ticket_id}"),
        audit=audit_hook(request, audit, principal),
        on_behalf_of=body.actor,
        allow_other_matter=merging_across,
        **params,
    )
    response.headers["ETag"] = f'"{ticket.version}"'
    return ticket_dict(ticket, store.catalogue, people=_people(principal, ticket))
