"""Bulk work on the ticket store: imports and replays of many transitions, in few transactions.

Mixed into :class:`gridgis.tickets.store.TicketStore`; every report and every action goes through
the same checks and state machine as the single-ticket methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from gridgis.errors import DuplicateExternalIdError, GridGISError, NotFoundError, PreconditionFailedError
from gridgis.storage.engine import storage_errors
from gridgis.storage.partitions import ensure_months
from gridgis.tickets import external_ids, loop
from gridgis.tickets.dispatch import generation_picker
from gridgis.tickets.loop import Ticket
from gridgis.tickets.rows import _TICKET_FIELDS, _aware, _row_to_ticket, _ticket_values
from gridgis.tickets.tables import ticket_events, tickets


def _has_external_id(report: dict[str, Any]) -> bool:
    ext = report.get("external_id")
    return ext is not None and bool(str(ext).strip())


def _repeated(ticket: Ticket, stored: dict[str, Ticket], in_file: dict[str, tuple[int, Ticket]]) -> str | None:
    """Why an import does not store ``ticket`` again (the external-id rule), or None when it may."""
    ext = ticket.external_id
    if ext is None:
        return None
    if ext in stored:
        try:
            return f"already imported as ticket {external_ids.check(stored[ext], ticket).id}"
        except DuplicateExternalIdError as err:
            return err.message
    if ext in in_file:
        row, first = in_file[ext]
        differ = external_ids.differences(first, ticket)
        if not differ:
            return f"already in this import (row {row})"
        return f"external_id {ext!r} is already row {row} of this import, whose {', '.join(differ)} differ"
    return None


class BulkMixin:
    """``create_many``, ``transition_many`` and ``external_ids`` (see the class using it for the rest)."""

    engine: sa.Engine
    url: str
    repository: Any
    router: Any
    _audit: Any  # TicketStore._audit: the audit entry of a write, in its transaction
    # provided by the store class that uses the mixin (TicketStore)
    prepare: Callable[..., Ticket]
    _read: Callable[[], Any]
    _prepare_params: Callable[..., dict[str, Any]]

    def create_many(
        self,
        reports: list[dict[str, Any]],
        *,
        actor: str = "import",
        chunk: int = 500,
        progress: Any = None,
        audit: Any = None,
        dry_run: bool = False,
    ) -> tuple[list[Ticket], list[dict[str, Any]]]:
        """Create many tickets (e.g. an import): each report is checked and routed on its own; the
        valid ones are stored in transactions of ``chunk``. The rule of :mod:`gridgis.tickets.external_ids`
        applies to each report, as to a single create: a report whose ``external_id`` is already stored
        (or already earlier in this import) is not stored again — rejected as already imported when it is
        the same report, naming the ticket (or row) and the fields that differ otherwise — so a re-import
        adds nothing. The stored ids are looked up before routing and again inside each chunk's
        transaction, under the external ids' locks, so a ticket another writer stored meanwhile is not
        doubled. Returns (created, rejected) where each rejected row is ``{"index", "external_id",
        "reason"}`` (by index). A ``dry_run`` checks and routes the same way and stores nothing (the
        tickets it returns have no id).
        """
        wanted = [str(r["external_id"]).strip() for r in reports if _has_external_id(r)]
        if wanted:
            with storage_errors(self.url, "reading ticket ids"), self._read() as conn:
                known = external_ids.stored(conn, wanted)
        else:
            known = {}
        pick = generation_picker(self.router, self.repository)
        ready: list[tuple[int, Ticket, dict[str, Any] | None]] = []
        in_file: dict[str, tuple[int, Ticket]] = {}
        rejected: list[dict[str, Any]] = []
        for i, report in enumerate(reports):
            report = dict(report)
            ext = report.get("external_id")
            if progress is not None:
                progress(1)
            extra = report.pop("extra", None)
            try:
                ticket = self.prepare(report.pop("lon", None), report.pop("lat", None), _pick=pick, **report)
                reason = _repeated(ticket, known, in_file)
            except GridGISError as err:
                reason = err.message
            if reason is not None:
                rejected.append({"index": i, "external_id": ext, "reason": reason})
                continue
            if ticket.external_id is not None:
                in_file[ticket.external_id] = (i, ticket)
            ready.append((i, ticket, extra))
        if dry_run:
            return [t for _, t, _ in ready], rejected
        created: list[Ticket] = []
        for start in range(0, len(ready), chunk):
            part = ready[start : start + chunk]
            with storage_errors(self.url, "importing tickets"):
                ensure_months(self.engine, [t.received_at for _, t, _ in part])  # their months' partitions
            with storage_errors(self.url, "importing tickets"), self.engine.begin() as conn:
                ext_ids = [t.external_id for _, t, _ in part if t.external_id is not None]
                external_ids.lock(conn, ext_ids)
                now_known = external_ids.stored(conn, ext_ids) if ext_ids else {}
                keep = []
                for i, t, extra in part:
                    reason = _repeated(t, now_known, {}) if t.external_id in now_known else None
                    if reason is None:
                        keep.append((t, extra))
                    else:  # stored by another writer since the look-up above
                        rejected.append({"index": i, "external_id": t.external_id, "reason": reason})
                if not keep:
                    continue
                rows = [{**_ticket_values(t), "extra": extra} for t, extra in keep]
                ids = (
                    conn.execute(tickets.insert().returning(tickets.c.id, sort_by_parameter_order=True), rows)
                    .scalars()
                    .all()
                )
                made = [replace(t, id=int(i)) for (t, _), i in zip(keep, ids, strict=True)]
                conn.execute(
                    ticket_events.insert(),
                    [
                        {
                            "ticket_id": t.id,
                            "seq": 1,
                            "action": "create",
                            "from_status": None,
                            "to_status": "received",
                            "actor": actor,
                            "at": t.received_at,
                            "note": "",
                            "data": {
                                "grid_code": t.grid_code,
                                "level": t.level,
                                "snapped": t.snapped,
                                "distance_m": t.distance_m,
                            },
                        }
                        for t in made
                    ],
                )
                ids_text = [str(t.id) for t in made]
                self._audit(conn, audit, actor, "ticket.import", ids_text, f"{len(made)} tickets imported")
            created.extend(made)
        rejected.sort(key=lambda r: int(r["index"]))
        return created, rejected

    def external_ids(self) -> set[str]:
        """The external ids (source references) of every stored ticket."""
        with storage_errors(self.url, "reading ticket ids"), self._read() as conn:
            return {
                str(v)
                for v in conn.execute(
                    sa.select(tickets.c.external_id).where(tickets.c.external_id.is_not(None))
                ).scalars()
            }

    def transition_many(self, steps: list[dict[str, Any]], *, chunk: int = 2000, audit: Any = None) -> int:
        """Apply many loop actions (e.g. replaying a legacy system's history) in transactions of ``chunk`` steps.

        Each step is ``{"id", "action", "actor", "at", "note"?, **params}``; steps of one ticket run in
        the given order. Within a chunk the tickets are read once, every action goes through the same
        state machine as :meth:`transition`, and the final states and all events are written in bulk.
        Any refused step rolls its whole chunk back and raises, naming the step. Returns the steps applied.
        """
        cols = [k for k in _TICKET_FIELDS if k not in ("id", "lon", "lat")]
        update = (
            tickets.update()
            .where(tickets.c.id == sa.bindparam("_id"), tickets.c.version == sa.bindparam("_v"))
            .values({k: sa.bindparam(f"n_{k}") for k in cols})
        )
        done = 0
        for start in range(0, len(steps), chunk):
            part = steps[start : start + chunk]
            with storage_errors(self.url, "applying ticket transitions"), self.engine.begin() as conn:
                ids = sorted({int(st["id"]) for st in part})
                rows = conn.execute(sa.select(tickets).where(tickets.c.id.in_(ids))).all()
                before = {int(r.id): _row_to_ticket(r) for r in rows}
                seqs = dict(
                    conn.execute(
                        sa.select(ticket_events.c.ticket_id, sa.func.max(ticket_events.c.seq))
                        .where(ticket_events.c.ticket_id.in_(ids))
                        .group_by(ticket_events.c.ticket_id)
                    ).all()
                )
                now = dict(before)
                events = []
                for n, st in enumerate(part, start):
                    st = dict(st)
                    tid, action = int(st.pop("id")), st.pop("action")
                    if tid not in now:
                        raise NotFoundError(f"step {n}: ticket {tid} does not exist")
                    actor, note, when = st.pop("actor"), st.pop("note", ""), _aware(st.pop("at", None))
                    params = self._prepare_params(conn, now[tid], action, when, st)
                    now[tid], ev = loop.apply(now[tid], action, actor=actor, at=when, note=note, **params)
                    seqs[tid] = seqs.get(tid, 0) + 1
                    events.append(
                        {
                            "ticket_id": tid,
                            "seq": seqs[tid],
                            "action": ev.action,
                            "from_status": ev.from_status,
                            "to_status": ev.to_status,
                            "actor": ev.actor,
                            "at": ev.at,
                            "note": ev.note or "",
                            "data": ev.data or None,
                        }
                    )
                changed = [(tid, t) for tid, t in now.items() if t is not before[tid]]
                if changed:
                    res = conn.execute(
                        update,
                        [
                            {"_id": tid, "_v": before[tid].version, **{f"n_{k}": getattr(t, k) for k in cols}}
                            for tid, t in changed
                        ],
                    )
                    if res.rowcount not in (-1, len(changed)):
                        raise PreconditionFailedError("tickets changed while the transitions were applied; retry")
                    conn.execute(ticket_events.insert(), events)
                self._audit(
                    conn,
                    audit,
                    "import",
                    "ticket.import_transitions",
                    sorted({str(e["ticket_id"]) for e in events}),
                    f"{len(events)} transitions replayed",
                )
            done += len(part)
        return done
