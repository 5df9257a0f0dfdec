"""Persistence of the closed loop: :class:`TicketStore` over the repository's database.

Every write is one transaction: a create routes the point, picks the matter, computes the
deadlines and inserts the ticket with its first event — a refused ticket leaves no trace, and
an accepted one is committed before the caller gets its id. A transition re-reads the ticket
under a row lock (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``), applies the pure
state machine of :mod:`gridgis.tickets.loop` and appends the event.
"""

from __future__ import annotations

import builtins  # TicketStore.list shadows the builtin in annotations of later methods
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from gridgis.auth.store import audit_values
from gridgis.auth.store import ensure_tables as ensure_audit_tables
from gridgis.auth.tables import audit_log
from gridgis.errors import NotFoundError, PreconditionFailedError, TransitionError, ValidationError
from gridgis.storage.engine import READONLY, make_engine, storage_errors
from gridgis.storage.partitions import ensure_months
from gridgis.tickets import external_ids, loop
from gridgis.tickets.bulk import BulkMixin
from gridgis.tickets.calendar import WorkCalendar, default_calendar
from gridgis.tickets.catalogue import Catalogue, Duration, default_catalogue
from gridgis.tickets.dispatch import Router, deadlines_for, first_level, route_at, routed_from, router_for, to_wgs84
from gridgis.tickets.loop import Event, Ticket
from gridgis.tickets.rows import _TICKET_FIELDS, _aware, _row_to_ticket, _ticket_values
from gridgis.tickets.tables import MAX_EXTERNAL_ID_CHARS, ensure_tables, ticket_events, tickets

__all__ = ["AuditHook", "Authorize", "Submitted", "TicketStore", "scope_code", "ticket_events", "tickets"]

#: ``(conn, action, codes, message)``: writes the audit entry of a ticket write inside its transaction
AuditHook = Callable[[sa.Connection, str, list[str], str], None]
#: raises (403) when the caller may not act on this ticket; called inside the write's transaction
Authorize = Callable[[Ticket], None]


@dataclass(frozen=True)
class Submitted:
    """What :meth:`TicketStore.submit` did with a report: the ticket stored for it, or (``replayed``)
    the ticket already stored under its external id (:mod:`gridgis.tickets.external_ids`)."""

    ticket: Ticket
    replayed: bool = False


def scope_code(ticket: Ticket) -> str:
    """The code that decides who may act on a ticket and see its people: its grid (else community,
    street; ``""`` for an unrouted ticket, which only an everywhere scope covers)."""
    return ticket.grid_code or ticket.community_code or ticket.street_code or ""


_METRES_PER_DEG = 111_320.0
MIN_ADDRESS_CONFIDENCE = 0.6


def _external_id(value: Any) -> str | None:
    """A report's external id as stored: text without surrounding blanks, ``None`` when blank; refused
    when wider than the column (the one shape every intake path compares, :mod:`gridgis.tickets.external_ids`)."""
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > MAX_EXTERNAL_ID_CHARS:
        raise ValidationError(
            f"external_id {text[:20]!r}… has {len(text)} characters; at most {MAX_EXTERNAL_ID_CHARS} are stored"
        )
    return text or None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _engine_of(repository: Any) -> sa.Engine:
    if isinstance(repository, sa.Engine):
        return repository
    engine = getattr(repository, "engine", None)
    if isinstance(engine, sa.Engine):
        return engine
    url = repository if isinstance(repository, str) else getattr(repository, "url", None)
    if not url:
        raise TypeError("TicketStore needs a Repository, an Engine or a database URL")
    return make_engine(str(url))


class TicketStore(BulkMixin):
    """Tickets on the repository's database (SQLite or PostGIS).

    Parameters
    ----------
    repository : a :class:`gridgis.storage.Repository` (its ``engine``), an Engine or a URL
    router : answers ``route(lon, lat)``; default ``gridgis.routing.RoutingService(repository)``
    catalogue, calendar : default catalogue and calendar unless given
    create_tables : create the two tables if absent (the migrations normally do)
    """

    def __init__(
        self,
        repository: Any,
        router: Router | None = None,
        catalogue: Catalogue | None = None,
        calendar: WorkCalendar | None = None,
        create_tables: bool = False,
    ) -> None:
        self.repository = repository
        self.engine = _engine_of(repository)
        self.url = str(self.engine.url)
        self._router = router
        self.catalogue = catalogue or default_catalogue()
        self.calendar = calendar or default_calendar()
        if create_tables:
            with storage_errors(self.url, "creating the ticket tables"):
                ensure_tables(self.engine)
                ensure_audit_tables(self.engine)

    def _audit(
        self, conn: sa.Connection, hook: AuditHook | None, actor: str, action: str, codes: list[str], message: str
    ) -> None:
        """The audit entry of one ticket write, in its transaction: through ``hook`` (the API binds the
        principal and request) or, for library callers, under ``actor``."""
        if hook is not None:
            hook(conn, action, codes, message)
            return
        values = audit_values(actor, "LIB", "tickets", action, 200, "tickets", codes, message=message)
        conn.execute(audit_log.insert().values(**values))

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = router_for(self.repository)
        return self._router

    def _read(self) -> Any:
        return self.engine.connect().execution_options(**{READONLY: True})

    # -- create -------------------------------------------------------------------------------
    def prepare(
        self,
        lon: Any,
        lat: Any,
        *,
        crs: str = "wgs84",
        matter_code: str | None = None,
        description: str = "",
        address: str | None = None,
        channel: str = "hotline",
        reporter: str | None = None,
        external_id: str | None = None,
        received_at: datetime | None = None,
        _pick: Any = None,
    ) -> Ticket:
        """Validate, route and schedule a report without storing it (raises on any problem)."""
        external_id = _external_id(external_id)
        if matter_code is None or matter_code == "":
            guessed = self.catalogue.guess(description)
            if guessed is None:
                raise ValidationError(
                    "no matter code given and none recognised in the description; "
                    "give matter_code (GET /matters lists them)"
                )
            matter_code = guessed.code
        if not self.catalogue.has(str(matter_code)):
            raise ValidationError(
                f"unknown matter code {matter_code!r}: use one of "
                f"{self.catalogue.items[0].code}..{self.catalogue.items[-1].code} (GET /matters)"
            )
        item = self.catalogue.item(str(matter_code))
        located = None
        if _blank(lon) and _blank(lat) and address:
            located = self.locate_address(address)
            lon, lat, crs = located["lon"], located["lat"], "wgs84"
        elif _blank(lon) or _blank(lat):
            raise ValidationError(
                "a report needs lon and lat, or an address of a compound/building (e.g. 梅园三街坊12号楼) to locate it"
            )
        x, y = to_wgs84(lon, lat, crs)
        at = _aware(received_at)
        if _pick is not None:
            routed = routed_from(_pick(at if received_at is not None else None).route(x, y, "wgs84"))
        else:
            routed = routed_from(route_at(self.router, x, y, at if received_at is not None else None))
        due = deadlines_for(item, at, self.calendar)
        assignee = None
        if routed.workers:
            w = routed.workers[0]
            assignee = w.get("name") if isinstance(w, dict) else str(getattr(w, "name", w))
        due_utc: dict[str, Any] = {k: v.astimezone(UTC) for k, v in due.items()}
        ticket = Ticket(
            matter_code=item.code,
            lon=x,
            lat=y,
            received_at=at,
            description=description or "",
            address=address,
            channel=channel,
            reporter=reporter,
            external_id=external_id,
            micro_grid_code=routed.micro_grid_code,
            grid_code=routed.grid_code,
            community_code=routed.community_code,
            street_code=routed.street_code,
            snapped=routed.snapped,
            distance_m=routed.distance_m,
            department=item.department,
            level=first_level(item, routed),
            assignee=assignee,
            updated_at=at,
            **due_utc,
        )
        return ticket

    def locate_address(self, text: str) -> dict[str, Any]:
        """Locate an address text (compound, building) with the router's address resolver.

        Raises :class:`ValidationError` when the router cannot resolve addresses, or when the text is
        ambiguous (naming the candidates) or matches too weakly; :class:`NotFoundError` when nothing matches.
        """
        resolve = getattr(self.router, "resolve_address", None)
        if resolve is None:
            raise ValidationError(f"address {text!r} cannot be located here; give lon and lat")
        match = resolve(text)
        if getattr(match, "ambiguous", False):
            names = "、".join(c.get("name", "") for c in (match.candidates or [])[:5])
            raise ValidationError(
                f"address {text!r} is ambiguous (candidates: {names}); give the compound's full name or lon and lat"
            )
        if match.confidence < MIN_ADDRESS_CONFIDENCE:
            raise ValidationError(
                f"address {text!r} matches {match.compound_name} only weakly "
                f"(confidence {match.confidence:.2f}); give a fuller address or lon and lat"
            )
        return {
            "lon": match.lon,
            "lat": match.lat,
            "compound_code": match.compound_code,
            "building_code": match.building_code,
            "confidence": match.confidence,
        }

    def create(
        self,
        lon: Any,
        lat: Any,
        *,
        actor: str = "system",
        note: str = "",
        extra: dict[str, Any] | None = None,
        authorize: Authorize | None = None,
        audit: AuditHook | None = None,
        **kwargs: Any,
    ) -> Ticket:
        """:meth:`submit` a report and return its ticket: the new one, or the one already stored under
        its ``external_id`` when the report is a replay of it."""
        return self.submit(
            lon, lat, actor=actor, note=note, extra=extra, authorize=authorize, audit=audit, **kwargs
        ).ticket

    def submit(
        self,
        lon: Any,
        lat: Any,
        *,
        actor: str = "system",
        note: str = "",
        extra: dict[str, Any] | None = None,
        authorize: Authorize | None = None,
        audit: AuditHook | None = None,
        **kwargs: Any,
    ) -> Submitted:
        """Route, schedule and store a new ticket with its ``create`` event (one transaction).

        ``authorize(ticket)`` sees the routed ticket before anything is stored (scope of the creator);
        the ``ticket.create`` audit entry is written in the same transaction. A report whose
        ``external_id`` is already stored is not stored again (:func:`external_ids.claim`, in the same
        transaction): the same report answers the stored ticket with ``replayed`` (nothing written,
        nothing audited); other content raises :class:`~gridgis.errors.DuplicateExternalIdError`.
        """
        ticket = self.prepare(lon, lat, **kwargs)
        if authorize is not None:
            authorize(ticket)
        with storage_errors(self.url, "storing a ticket"):
            ensure_months(self.engine, [ticket.received_at])  # its month's partition (PostgreSQL)
        with storage_errors(self.url, "storing a ticket"), self.engine.begin() as conn:
            known = external_ids.claim(conn, ticket)
            if known is not None:
                return Submitted(known, replayed=True)
            values = _ticket_values(ticket)
            values["extra"] = extra
            new_id = conn.execute(tickets.insert().values(**values).returning(tickets.c.id)).scalar_one()
            ticket = replace(ticket, id=int(new_id))
            data = {
                "grid_code": ticket.grid_code,
                "level": ticket.level,
                "snapped": ticket.snapped,
                "distance_m": ticket.distance_m,
            }
            assert ticket.id is not None  # given by the insert
            self._append(conn, ticket.id, Event("create", None, "received", actor, ticket.received_at, note, data))
            message = f"channel {ticket.channel}; matter {ticket.matter_code}"
            self._audit(conn, audit, actor, "ticket.create", [str(ticket.id), ticket.grid_code or ""], message)
        return Submitted(ticket)

    def _append(self, conn: sa.Connection, ticket_id: int, ev: Event) -> None:
        seq = (
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(ticket_events.c.seq), 0)).where(
                    ticket_events.c.ticket_id == ticket_id
                )
            ).scalar_one()
            + 1
        )
        conn.execute(
            ticket_events.insert().values(
                ticket_id=ticket_id,
                seq=seq,
                action=ev.action,
                from_status=ev.from_status,
                to_status=ev.to_status,
                actor=ev.actor,
                at=ev.at,
                note=ev.note or "",
                data=ev.data or None,
            )
        )

    # -- read ---------------------------------------------------------------------------------
    def get(self, ticket_id: int) -> Ticket:
        """The ticket with ``ticket_id``; :class:`NotFoundError` when there is none."""
        with storage_errors(self.url, "reading a ticket"), self._read() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == int(ticket_id))).first()
        if row is None:
            raise NotFoundError(f"ticket {ticket_id} does not exist")
        return _row_to_ticket(row)

    def extra(self, ticket_id: int) -> dict[str, Any]:
        """The free-form attributes stored with a ticket (e.g. Open311 media_url, email)."""
        with storage_errors(self.url, "reading a ticket"), self._read() as conn:
            value = conn.execute(sa.select(tickets.c.extra).where(tickets.c.id == int(ticket_id))).scalar_one_or_none()
        return dict(value or {})

    def extras(self, ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The free-form attributes of many tickets in one query (id → dict; empty dicts included)."""
        ids = [int(i) for i in ticket_ids]
        if not ids:
            return {}
        with storage_errors(self.url, "reading tickets"), self._read() as conn:
            rows = conn.execute(sa.select(tickets.c.id, tickets.c.extra).where(tickets.c.id.in_(ids))).all()
        return {int(r.id): dict(r.extra or {}) for r in rows}

    def events(self, ticket_id: int) -> list[Event]:
        """Every recorded transition of a ticket, oldest first."""
        self.get(ticket_id)
        with storage_errors(self.url, "reading ticket events"), self._read() as conn:
            rows = conn.execute(
                sa.select(ticket_events)
                .where(ticket_events.c.ticket_id == int(ticket_id))
                .order_by(ticket_events.c.seq)
            ).all()
        return [
            Event(r.action, r.from_status, r.to_status, r.actor, r.at, r.note or "", dict(r.data or {})) for r in rows
        ]

    def list(
        self,
        *,
        grid: str | None = None,
        status: str | list[str] | None = None,
        matter: str | list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        ids: list[int] | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Ticket]:
        """Tickets matching the filters, newest first. ``grid`` also matches a micro-grid or community code."""
        q = sa.select(tickets)
        if grid:
            q = q.where(
                sa.or_(
                    tickets.c.grid_code == grid,
                    tickets.c.micro_grid_code == grid,
                    tickets.c.community_code == grid,
                    tickets.c.street_code == grid,
                )
            )
        if status:
            states = [status] if isinstance(status, str) else list(status)
            unknown = [s for s in states if s not in loop.STATES]
            if unknown:
                raise ValidationError(f"unknown ticket status {unknown[0]!r}; use one of {', '.join(loop.STATES)}")
            q = q.where(tickets.c.status.in_(states))
        if matter:
            q = q.where(tickets.c.matter_code.in_([matter] if isinstance(matter, str) else list(matter)))
        if since:
            q = q.where(tickets.c.received_at >= _aware(since))
        if until:
            q = q.where(tickets.c.received_at < _aware(until))
        if ids is not None:
            q = q.where(tickets.c.id.in_([int(i) for i in ids]))
        q = q.order_by(tickets.c.received_at.desc(), tickets.c.id.desc()).limit(int(limit)).offset(int(offset))
        with storage_errors(self.url, "listing tickets"), self._read() as conn:
            return [_row_to_ticket(r) for r in conn.execute(q).all()]

    # -- transitions --------------------------------------------------------------------------
    def transition(
        self,
        ticket_id: int,
        action: str,
        *,
        actor: str,
        note: str = "",
        at: datetime | None = None,
        expected_version: int | None = None,
        authorize: Authorize | None = None,
        audit: AuditHook | None = None,
        on_behalf_of: str | None = None,
        allow_other_matter: bool = False,
        **params: Any,
    ) -> Ticket:
        """Apply one loop action to a stored ticket and record it (one transaction).

        ``escalate`` and ``resume`` get fresh deadlines from the calendar; ``extend`` takes
        ``solve_due`` as a datetime or a duration such as ``"2wd"``; ``merge`` needs an open master
        of the same matter (unless ``allow_other_matter``) that ``authorize`` also accepts.
        ``authorize`` sees the locked ticket before anything changes; ``on_behalf_of`` (a name the
        caller says it acts for, e.g. the resident who rated) is kept in the event's data, never as
        its actor. The ``ticket.<action>`` audit entry is written in the same transaction.
        """
        when = _aware(at)
        with storage_errors(self.url, f"{action} of ticket {ticket_id}"), self.engine.begin() as conn:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == int(ticket_id)).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"ticket {ticket_id} does not exist")
            ticket = _row_to_ticket(row)
            if authorize is not None:
                authorize(ticket)
            if expected_version is not None and expected_version != ticket.version:
                raise PreconditionFailedError(
                    f"ticket {ticket_id} is at version {ticket.version}, not {expected_version}; reload it and retry"
                )
            params = self._prepare_params(conn, ticket, action, when, params, authorize, allow_other_matter)
            new, ev = loop.apply(ticket, action, actor=actor, at=when, note=note, **params)
            if on_behalf_of and on_behalf_of != actor:
                ev = replace(ev, data={**(ev.data or {}), "on_behalf_of": on_behalf_of})
            self._write(conn, ticket, new, ev)
            codes = [str(ticket.id), ticket.grid_code or ""]
            if action == "merge":
                codes.append(str(params["master_id"]))
            self._audit(conn, audit, actor, f"ticket.{action}", codes, f"{ticket.status} → {new.status}")
        return new

    def _prepare_params(
        self,
        conn: sa.Connection,
        ticket: Ticket,
        action: str,
        when: datetime,
        params: dict[str, Any],
        authorize: Authorize | None = None,
        allow_other_matter: bool = False,
    ) -> dict[str, Any]:
        params = dict(params)
        item = self.catalogue.item(ticket.matter_code) if self.catalogue.has(ticket.matter_code) else None
        if action == "escalate" and item is not None:
            params["deadlines"] = {k: v.astimezone(UTC) for k, v in deadlines_for(item, when, self.calendar).items()}
        if action == "extend":
            due = params.get("solve_due")
            if isinstance(due, str):
                text = due
                try:
                    due = self.calendar.add(ticket.solve_due or when, Duration.parse(text))
                except ValueError:
                    due = _aware(datetime.fromisoformat(text))
            params["solve_due"] = due.astimezone(UTC) if isinstance(due, datetime) else due
        if action == "merge":
            master_id = params.get("master_id")
            if master_id is not None:
                master_row = conn.execute(sa.select(tickets).where(tickets.c.id == int(master_id))).first()
                if master_row is None:
                    raise NotFoundError(f"ticket {ticket.id}: master ticket {master_id} does not exist")
                master = _row_to_ticket(master_row)
                if authorize is not None:
                    authorize(master)  # the master must be in the caller's scope too
                if master.close_reason == "merged":
                    raise ValidationError(
                        f"ticket {ticket.id}: ticket {master_id} is itself merged into "
                        f"{master.master_id}; merge into that one"
                    )
                if master.status not in loop.OPEN_STATES:
                    raise TransitionError(
                        f"ticket {ticket.id}: master ticket {master_id} is {master.status}; "
                        "merge only into an open ticket (reopen it, or keep this one)"
                    )
                if master.matter_code != ticket.matter_code and not allow_other_matter:
                    raise ValidationError(
                        f"ticket {ticket.id} is matter {ticket.matter_code} but master ticket {master_id} is "
                        f"{master.matter_code}; a planner or admin may merge across matters with allow_other_matter"
                    )
                params["master_id"] = int(master_id)
        return params

    def _write(self, conn: sa.Connection, old: Ticket, new: Ticket, ev: Event) -> None:
        values = {
            k: getattr(new, k)
            for k in _TICKET_FIELDS
            if k not in ("id", "lon", "lat") and getattr(new, k) != getattr(old, k)
        }
        done = conn.execute(
            tickets.update().where(tickets.c.id == old.id, tickets.c.version == old.version).values(**values)
        )
        if done.rowcount != 1:
            raise PreconditionFailedError(f"ticket {old.id} changed while {ev.action} was applied; retry")
        assert old.id is not None  # a stored ticket
        self._append(conn, old.id, ev)

    def escalate_overdue(
        self,
        now: datetime | None = None,
        actor: str = "system",
        covers: Callable[[str], bool] | None = None,
        audit: AuditHook | None = None,
        dry_run: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        """Escalate every ticket past its solution deadline one level (提级); idempotent for a given ``now``.

        ``covers(scope_code)`` limits it to the tickets of the caller's scope (default: all, for the
        service's own escalator). The escalated ticket gets fresh deadlines counted from ``now``, so
        running this again at the same moment changes nothing. Returns one row per escalation; with
        ``dry_run``, the rows it would return, and nothing is written.
        """
        when = _aware(now)
        q = (
            sa.select(
                tickets.c.id, tickets.c.grid_code, tickets.c.community_code, tickets.c.street_code, tickets.c.level
            )
            .where(
                tickets.c.status.in_(sorted(loop.RUNNING_STATES)),
                tickets.c.solve_due < when,
                tickets.c.level != loop.LEVELS[-1],
            )
            .order_by(tickets.c.id)
        )
        with storage_errors(self.url, "finding overdue tickets"), self._read() as conn:
            rows = conn.execute(q).all()
        rows = [r for r in rows if covers is None or covers(r.grid_code or r.community_code or r.street_code or "")]
        if dry_run:
            return [
                {"id": int(r.id), "from_level": r.level, "to_level": loop.next_level(r.level), "grid_code": r.grid_code}
                for r in rows
            ]
        candidates = [int(r.id) for r in rows]
        done = []
        for tid in candidates:
            with storage_errors(self.url, f"escalating ticket {tid}"), self.engine.begin() as conn:
                row = conn.execute(sa.select(tickets).where(tickets.c.id == tid).with_for_update()).first()
                ticket = _row_to_ticket(row)
                if not loop.is_overdue(ticket, when):
                    continue  # changed since the scan
                params = self._prepare_params(conn, ticket, "escalate", when, {"reason": "overdue"})
                note = f"逾期自动提级: solution due {ticket.solve_due.isoformat() if ticket.solve_due else '-'}"
                new, ev = loop.apply(ticket, "escalate", actor=actor, at=when, note=note, **params)
                self._write(conn, ticket, new, ev)
                message = f"overdue: {ticket.level} → {new.level}"
                self._audit(conn, audit, actor, "ticket.escalate", [str(tid), ticket.grid_code or ""], message)
            done.append({"id": tid, "from_level": ticket.level, "to_level": new.level, "grid_code": new.grid_code})
        return done

    # -- duplicates -----------------------------------------------------------------------------
    def find_duplicates(
        self,
        lon: Any,
        lat: Any,
        matter_code: str,
        *,
        radius_m: float = 50.0,
        crs: str = "wgs84",
        exclude_id: int | None = None,
    ) -> builtins.list[tuple[Ticket, float]]:
        """Open tickets of ``matter_code`` within ``radius_m`` of the point, nearest first, with distances (m)."""
        if not (isinstance(radius_m, int | float) and math.isfinite(radius_m) and 0 < radius_m <= 5000):
            raise ValidationError(f"duplicate radius must be a number of metres in (0, 5000], got {radius_m!r}")
        x, y = to_wgs84(lon, lat, crs)
        dlat = radius_m / _METRES_PER_DEG
        dlon = radius_m / (_METRES_PER_DEG * max(math.cos(math.radians(y)), 1e-6))
        q = sa.select(tickets).where(
            tickets.c.matter_code == matter_code,
            tickets.c.status.in_(sorted(loop.OPEN_STATES)),
            tickets.c.lon.between(x - dlon, x + dlon),
            tickets.c.lat.between(y - dlat, y + dlat),
        )
        if exclude_id is not None:
            q = q.where(tickets.c.id != int(exclude_id))
        with storage_errors(self.url, "finding duplicate tickets"), self._read() as conn:
            found = [_row_to_ticket(r) for r in conn.execute(q).all()]
        if not found:
            return []
        dist = _metric_distances(x, y, [(t.lon, t.lat) for t in found])
        out = [(t, round(d, 1)) for t, d in zip(found, dist, strict=True) if d <= radius_m]
        return sorted(out, key=lambda p: (p[1], p[0].id or 0))

    # -- statistics -----------------------------------------------------------------------------
    def statistics(self, month: str | None = None, *, level: str = "grid") -> builtins.list[dict[str, Any]]:
        """Per-grid (or per-community/street with ``level``) figures by month; see :mod:`gridgis.tickets.stats`.

        Aggregated in the database (one ``GROUP BY`` per month); only the counts per area come back.
        """
        from gridgis.tickets.stats import finish_rows

        # a read replica when the repository has one: monthly figures tolerate its lag
        engine = getattr(self.repository, "read_engine", None)
        source = engine.connect() if isinstance(engine, sa.Engine) else self._read()
        with storage_errors(self.url, "computing ticket statistics"), source as conn:
            rows = conn.execute(self.statistics_query(month, level=level, conn=conn)).all()
        return finish_rows(rows, level)

    def statistics_query(
        self, month: str | None = None, *, level: str = "grid", conn: sa.Connection | None = None
    ) -> sa.Select | sa.CompoundSelect:
        """The aggregate :meth:`statistics` runs (:func:`gridgis.tickets.stats.figures_query`): one month's
        counts per area by ``received_at`` (on PostgreSQL a month of the calendar's zone is one partition of
        ``tickets``, and the planner reads only it); without ``month``, every month from the first ticket's
        to the last's (read on ``conn``, else on a connection of its own)."""
        from gridgis.tickets.stats import figures_query, month_range, months_between

        tz = self.calendar.tz
        if month:
            month_range(month, tz)  # a bad month is refused before any query
            return figures_query(tickets, [month], tz, level)
        span = sa.select(sa.func.min(tickets.c.received_at), sa.func.max(tickets.c.received_at))
        if conn is None:
            with storage_errors(self.url, "finding the months of the tickets"), self._read() as own:
                first, last = own.execute(span).one()
        else:
            first, last = conn.execute(span).one()
        return figures_query(tickets, months_between(first, last, tz), tz, level)


def _metric_distances(x: float, y: float, points: list[tuple[float, float]]) -> list[float]:
    """Distances in metres from (x, y) to ``points`` (WGS84) in the CGCS2000 Gauss-Krüger zone of x."""
    import numpy as np

    from gridgis.crs import gauss_kruger_epsg

    tr = _to_metric(gauss_kruger_epsg(x))
    xs = np.array([x] + [p[0] for p in points])
    ys = np.array([y] + [p[1] for p in points])
    ex, ny = tr.transform(xs, ys)
    return [float(v) for v in np.hypot(ex[1:] - ex[0], ny[1:] - ny[0])]


@lru_cache(maxsize=16)
def _to_metric(epsg: int) -> Any:
    """WGS84 → ``epsg`` transformer, built once per zone (building one costs far more than using it)."""
    from pyproj import Transformer

    return Transformer.from_crs(4326, epsg, always_xy=True)
