"""The one rule for a report's ``external_id`` (a source system's reference, e.g. a 12345 order number).

A report whose ``external_id`` is already stored is not stored again, on every intake path
(:meth:`TicketStore.submit`/``create`` — ``POST /tickets``, Open311 posts, the 12345 intake — and
:meth:`TicketStore.create_many`, the batch import):

* the same content (:data:`COMPARED`) → the stored ticket answers the report: a *replay*, as when a
  source re-sends a post after a timeout; nothing is written;
* other content → :class:`~gridgis.errors.DuplicateExternalIdError` (409) naming the external id, the
  stored ticket and the fields that differ; nothing is written.

Compared (:func:`differences`): ``matter_code`` (as resolved: a guessed matter counts), the ``point``
in WGS84 at the storage precision (:data:`gridgis.crs.STORAGE_DECIMALS`, so a point sent in GCJ-02
compares after conversion), ``description``, ``address`` (blank = none) and ``channel``. Not compared:
``received_at`` (a retry without one is stamped when it arrives), ``reporter`` and ``extra``
(contacts and attachments a retry may add or lack). External ids are one namespace across channels:
the same id from another channel is a conflict, never a silent replay.

Race safety: :func:`claim` (and :func:`lock` + :func:`stored` in an import) run inside the insert's
own transaction.

* PostgreSQL: ``tickets`` is partitioned by ``received_at``, so no unique index can hold
  ``external_id`` alone. Before looking, a writer takes a transaction-scoped advisory lock on
  ``(EXTERNAL_ID_LOCK, bucket of the external id)``; a second writer of the same id waits until the
  first commits or rolls back, and its look-up (a new statement under READ COMMITTED) then sees the
  first's row. An import locks the buckets of a chunk in ascending order (no deadlock between writers).
* SQLite: every write transaction begins with ``BEGIN IMMEDIATE`` (:mod:`gridgis.storage.engine`),
  so writers are already serialised from their first statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from gridgis.crs import STORAGE_DECIMALS
from gridgis.errors import DuplicateExternalIdError
from gridgis.tickets.loop import Ticket
from gridgis.tickets.rows import _row_to_ticket
from gridgis.tickets.tables import tickets

#: the fields of a report compared with the stored ticket of its external id, in this order
COMPARED = ("matter_code", "point", "description", "address", "channel")
#: first key of the advisory locks on external ids (the second is the id's bucket)
EXTERNAL_ID_LOCK = 0x74696B74  # "tikt"
#: external ids hash into this many lock buckets (bounds the locks one import chunk holds)
LOCK_BUCKETS = 256
_POINT_TOLERANCE = 10.0**-STORAGE_DECIMALS


def _blank_none(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def differences(stored: Ticket, report: Ticket) -> list[str]:
    """The :data:`COMPARED` fields in which ``report`` differs from ``stored`` (empty: the same report).

    >>> from datetime import datetime, UTC
    >>> a = Ticket("M27", 116.4, 39.9, datetime(2026, 12, 1, tzinfo=UTC), description="满溢", channel="12345")
    >>> differences(a, Ticket("M27", 116.40000004, 39.9, datetime.now(UTC), description="满溢", channel="12345"))
    []
    >>> differences(a, Ticket("M11", 116.4001, 39.9, a.received_at, description="满溢", address=" ", channel="app"))
    ['matter_code', 'point', 'channel']
    """
    out = []
    for name in COMPARED:
        if name == "point":
            same = abs(stored.lon - report.lon) <= _POINT_TOLERANCE and abs(stored.lat - report.lat) <= _POINT_TOLERANCE
        elif name in ("description", "address"):
            same = (_blank_none(getattr(stored, name)) or "") == (_blank_none(getattr(report, name)) or "")
        else:
            same = getattr(stored, name) == getattr(report, name)
        if not same:
            out.append(name)
    return out


def check(stored: Ticket, report: Ticket) -> Ticket:
    """The rule for a report whose external id is ``stored``'s: ``stored`` when the report is the same
    (a replay), else :class:`DuplicateExternalIdError`."""
    differ = differences(stored, report)
    if differ:
        assert stored.id is not None and stored.external_id is not None  # a stored ticket with an external id
        raise DuplicateExternalIdError(stored.external_id, stored.id, differ)
    return stored


def lock(conn: sa.Connection, external_ids: Iterable[str]) -> None:
    """Hold, until the transaction ends, the advisory locks of these external ids (PostgreSQL; SQLite
    writers are serialised by ``BEGIN IMMEDIATE``). Buckets are taken in ascending order."""
    if conn.dialect.name != "postgresql":
        return
    ids = sorted(set(external_ids))
    if not ids:
        return
    buckets = conn.execute(
        sa.text("SELECT DISTINCT abs(hashtext(e) % :n) AS b FROM unnest(CAST(:ids AS text[])) AS e ORDER BY b"),
        {"n": LOCK_BUCKETS, "ids": ids},
    ).scalars()
    for bucket in list(buckets):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, :b)"), {"k": EXTERNAL_ID_LOCK, "b": int(bucket)})


def stored(conn: sa.Connection, external_ids: Iterable[str], chunk: int = 500) -> dict[str, Ticket]:
    """The stored ticket of each of these external ids that has one (the earliest, should there be
    several from before this rule)."""
    ids = sorted(set(external_ids))
    out: dict[str, Ticket] = {}
    for start in range(0, len(ids), chunk):
        rows = conn.execute(
            sa.select(tickets)
            .where(tickets.c.external_id.in_(ids[start : start + chunk]))
            .order_by(tickets.c.id.desc())
        ).all()
        for row in rows:  # highest id first, so the earliest ticket is kept
            out[str(row.external_id)] = _row_to_ticket(row)
    return out


def claim(conn: sa.Connection, report: Ticket) -> Ticket | None:
    """Inside the transaction that would insert ``report``: ``None`` when it may be stored; the stored
    ticket when the report is a replay of it; :class:`DuplicateExternalIdError` when its external id is
    stored with other content. Reports without an external id are always stored."""
    if report.external_id is None:
        return None
    lock(conn, [report.external_id])
    found = stored(conn, [report.external_id]).get(report.external_id)
    return None if found is None else check(found, report)
