"""Tickets partitioned by month on PostgreSQL: partitions made as months come, old months archived.

Since migration ``0005`` the PostgreSQL ``tickets`` table is partitioned (declarative, ``RANGE``
on ``received_at``) into one partition per calendar month of Asia/Shanghai — the months
:func:`gridgis.tickets.stats.month_range` gives, so a month's statistics read exactly one
partition — named ``tickets_mYYYYMM``, plus ``tickets_default`` for anything else. Every
partition has the indexes of the parent (status, grid code, street code, matter, received
time, lon/lat, external id, GiST on the point); the primary key is ``(id, received_at)`` (a
partitioned table's unique keys hold the partition key) and ids still come from one sequence.
``ticket_events`` is not partitioned and has no foreign key to ``tickets`` any more (a foreign
key cannot point at a partitioned table's ``id`` alone); the ticket store writes a ticket and
its events in one transaction, and retention archives and deletes them together.

* :func:`ensure_months` makes the partitions of the months a write needs before it runs (the
  ticket store calls it; known months are cached per database, so a write asks the catalogue
  once per new month). Rows that landed in the default partition meanwhile move into the new
  month's partition, in the same transaction.
* :func:`retention` detaches old months: each is written to
  ``DIR/tickets-YYYY-MM.jsonl.gz`` (one JSON object per line: the ticket's columns as PostgreSQL's
  ``to_jsonb`` gives them, the point as GeoJSON, and ``events``, its events in order), then — with ``commit`` — detached, its events deleted and its table
  dropped in one transaction with an audit entry. Without ``commit`` it only reports. A month
  with a ticket not yet closed is refused. :func:`restore` puts such a file back.

SQLite keeps a plain ``tickets`` table: these functions do nothing there (``is_partitioned`` is
False), and statistics use the ``received_at`` index.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from gridgis.errors import ValidationError

log = logging.getLogger(__name__)

#: the zone whose calendar months the partitions follow (that of the ticket calendar and statistics)
PARTITION_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_PARTITION = "tickets_default"
#: advisory lock serialising partition DDL between processes
PARTITION_LOCK = 0x67726966
_MONTH = re.compile(r"^tickets_m(\d{4})(\d{2})$")
#: months known to have a partition, per database (``None``: tickets is not partitioned there)
_known: dict[str, set[str] | None] = {}
_known_lock = threading.Lock()


def partition_name(month: str) -> str:
    """``tickets_mYYYYMM`` for month ``YYYY-MM``.

    >>> partition_name("2026-10")
    'tickets_m202610'
    """
    month_bounds(month)
    return "tickets_m" + month.replace("-", "")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of ``month`` in :data:`PARTITION_TZ` (the statistics' month rule).

    >>> [b.isoformat() for b in month_bounds("2026-10")]
    ['2026-09-30T16:00:00+00:00', '2026-10-31T16:00:00+00:00']
    """
    from gridgis.tickets.stats import month_range

    return month_range(month, PARTITION_TZ)


def month_of(at: datetime) -> str:
    """The partition month of a time (naive times are UTC).

    >>> month_of(datetime(2026, 9, 30, 17, 0))
    '2026-10'
    """
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return at.astimezone(PARTITION_TZ).strftime("%Y-%m")


def next_month(month: str, step: int = 1) -> str:
    """
    >>> next_month("2026-12"), next_month("2026-01", -1)
    ('2027-01', '2025-12')
    """
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + (mon - 1) + step
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def is_partitioned(conn: sa.Connection) -> bool:
    """Whether ``tickets`` is a partitioned table here (PostgreSQL after migration 0005)."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = 'tickets' AND c.relnamespace = current_schema()::regnamespace"
        )
    ).first()
    return found is not None


def month_partitions(conn: sa.Connection) -> dict[str, str]:
    """``{month: partition}`` of the monthly partitions attached to ``tickets`` (default excluded)."""
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'tickets'::regclass"
        )
    ).scalars()
    out = {}
    for name in names:
        m = _MONTH.match(name)
        if m:
            out[f"{m.group(1)}-{m.group(2)}"] = name
    return dict(sorted(out.items()))


def create_month(conn: sa.Connection, month: str) -> bool:
    """Create ``month``'s partition inside the caller's transaction (no-op when it exists).

    Rows of that month found in the default partition move into it. Returns whether it was made.
    """
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
    if month in month_partitions(conn):
        return False
    name = partition_name(month)
    lo, hi = month_bounds(month)
    bounds = {"lo": lo, "hi": hi}
    conn.execute(sa.text(f"CREATE TABLE {name} (LIKE tickets INCLUDING DEFAULTS)"))
    has_default = conn.execute(sa.text("SELECT to_regclass(:n)"), {"n": DEFAULT_PARTITION}).scalar() is not None
    if has_default:
        where = "received_at >= :lo AND received_at < :hi"
        conn.execute(sa.text(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE"))
        moved = conn.execute(sa.text(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {where}"), bounds)
        if moved.rowcount:
            conn.execute(sa.text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {where}"), bounds)
            log.info("moved %s tickets of %s out of the default partition", moved.rowcount, month)
    # ATTACH (not CREATE … PARTITION OF): the parent is locked only against other DDL, not readers
    # or writers; the parent's indexes are created on the new partition
    conn.execute(
        sa.text(
            f"ALTER TABLE tickets ATTACH PARTITION {name} FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        )
    )
    return True


def ensure_months(engine: sa.Engine, times: Iterable[datetime]) -> list[str]:
    """Make sure the partitions of the months of ``times`` exist; returns the months created.

    Cached per database: once a month is known, later calls cost no query.
    """
    if engine.dialect.name != "postgresql":
        return []
    key = engine.url.render_as_string(hide_password=True)
    wanted = {month_of(t) for t in times if t is not None}
    with _known_lock:
        if key in _known:
            known = _known[key]
            if known is None or wanted <= known:
                return []
    with engine.begin() as conn:
        if not is_partitioned(conn):
            with _known_lock:
                _known[key] = None
            return []
        present = set(month_partitions(conn))
        made = [m for m in sorted(wanted - present) if create_month(conn, m)]
    with _known_lock:
        _known[key] = present | set(made)
    return made


def forget(engine: sa.Engine) -> None:
    """Drop the cached months of ``engine``'s database (after partitions were dropped elsewhere)."""
    with _known_lock:
        _known.pop(engine.url.render_as_string(hide_password=True), None)


@dataclass(frozen=True)
class MonthArchive:
    """One month considered by :func:`retention`."""

    month: str
    partition: str
    tickets: int
    events: int
    open_tickets: int
    archive: Path
    done: bool  # archived, detached and dropped


def retention(
    engine: sa.Engine,
    before: str,
    archive_dir: Path,
    *,
    commit: bool = False,
    actor: str,
) -> list[MonthArchive]:
    """Archive and detach every monthly partition older than ``before`` (``YYYY-MM``, excluded).

    Dry run unless ``commit``: the months, their ticket and event counts and the archive files
    that would be written. With ``commit``, each month is written to its archive first (fsynced),
    then detached, its events deleted and its table dropped in one transaction that also writes
    the audit entry ``tickets.retention`` under ``actor``. A month holding tickets not closed
    (``closed_at`` empty) is refused with :class:`ValidationError` before anything is done.
    """
    month_bounds(before)  # a clear error for a bad month
    with engine.connect() as conn:
        if not is_partitioned(conn):
            raise ValidationError(
                "the tickets table is not partitioned by month here (SQLite, or a PostgreSQL schema "
                "before migration 0005); retention needs PostgreSQL and `alembic upgrade head`"
            )
        old = {m: n for m, n in month_partitions(conn).items() if m < before}
        plan = []
        for month, name in old.items():
            counts = conn.execute(
                sa.text(
                    f"SELECT count(*), count(*) FILTER (WHERE closed_at IS NULL), "
                    f"(SELECT count(*) FROM ticket_events e WHERE e.ticket_id IN (SELECT id FROM {name})) FROM {name}"
                )
            ).one()
            path = Path(archive_dir) / f"tickets-{month}.jsonl.gz"
            plan.append(MonthArchive(month, name, int(counts[0]), int(counts[2]), int(counts[1]), path, False))
    still_open = [p for p in plan if p.open_tickets]
    if still_open:
        listed = ", ".join(f"{p.month} ({p.open_tickets})" for p in still_open)
        raise ValidationError(f"months with tickets not closed cannot be archived: {listed}; close them first")
    if not commit:
        return plan
    Path(archive_dir).mkdir(parents=True, exist_ok=True)
    done = []
    for item in plan:
        _write_archive(engine, item)
        _detach(engine, item, actor)
        done.append(MonthArchive(**{**item.__dict__, "done": True}))
    forget(engine)
    return done


def _write_archive(engine: sa.Engine, item: MonthArchive) -> None:
    """One JSON line per ticket (``row_to_json``: the point as GeoJSON) with ``events`` inside,
    built by the server and written as it streams."""
    tmp = item.archive.with_suffix(".partial")
    written = 0
    query = sa.text(
        "SELECT (to_jsonb(t) || jsonb_build_object('events', coalesce((SELECT jsonb_agg(to_jsonb(e) ORDER BY e.seq) "
        f"FROM ticket_events e WHERE e.ticket_id = t.id), '[]'::jsonb)))::text FROM {item.partition} t ORDER BY t.id"
    )
    with engine.connect() as conn, gzip.open(tmp, "wt", encoding="utf-8", compresslevel=5) as out:
        for (line,) in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
            out.write(line)
            out.write("\n")
            written += 1
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    if written != item.tickets:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"month {item.month} changed while being archived ({written} of {item.tickets}); retry")
    tmp.replace(item.archive)


def _detach(engine: sa.Engine, item: MonthArchive, actor: str) -> None:
    from gridgis.auth.store import audit_log, audit_values

    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
        conn.execute(sa.text(f"LOCK TABLE {item.partition} IN ACCESS EXCLUSIVE MODE"))
        count = conn.execute(sa.text(f"SELECT count(*) FROM {item.partition}")).scalar_one()
        if int(count) != item.tickets:
            raise ValidationError(f"month {item.month} changed after it was archived; run the retention again")
        conn.execute(sa.text(f"ALTER TABLE tickets DETACH PARTITION {item.partition}"))
        conn.execute(sa.text(f"DELETE FROM ticket_events WHERE ticket_id IN (SELECT id FROM {item.partition})"))
        conn.execute(sa.text(f"DROP TABLE {item.partition}"))
        message = f"{item.tickets} tickets, {item.events} events archived to {item.archive}"
        values = audit_values(
            actor, "CLI", "tickets retention", "tickets.retention", 200, "tickets", [item.month], message=message
        )
        conn.execute(audit_log.insert().values(**values))


def restore(engine: sa.Engine, archive: Path, *, actor: str, batch: int = 2000) -> int:
    """Put an archived month back (a file written by :func:`retention`); returns the tickets restored.

    The month's partition is made again, the tickets and their events are inserted from the file
    in one transaction with a ``tickets.restore`` audit entry. A ticket still (or already) stored
    is refused with :class:`ValidationError` and nothing is restored.
    """
    from gridgis.auth.store import audit_log, audit_values

    m = re.match(r"^tickets-(\d{4}-\d{2})\.jsonl\.gz$", Path(archive).name)
    if m is None:
        raise ValidationError(f"{archive} is not a tickets-YYYY-MM.jsonl.gz archive of gridgis tickets retention")
    month = m.group(1)
    insert_tickets = sa.text(
        "INSERT INTO tickets SELECT r.* FROM jsonb_array_elements(CAST(:batch AS jsonb)) e, "
        "jsonb_populate_record(NULL::tickets, (e - 'events') || "
        "jsonb_build_object('geometry', ST_AsEWKT(ST_GeomFromGeoJSON(e -> 'geometry')))) r"
    )
    insert_events = sa.text(
        "INSERT INTO ticket_events SELECT r.* FROM jsonb_array_elements(CAST(:batch AS jsonb)) e, "
        "jsonb_populate_recordset(NULL::ticket_events, e -> 'events') r"
    )
    restored = 0
    try:
        with engine.begin() as conn, gzip.open(archive, "rt", encoding="utf-8") as lines:
            if not is_partitioned(conn):
                raise ValidationError("the tickets table is not partitioned by month here; restore needs PostgreSQL")
            create_month(conn, month)
            chunk: list[str] = []
            for line in lines:
                if line.strip():
                    chunk.append(line)
                if len(chunk) >= batch:
                    restored += _restore_chunk(conn, chunk, insert_tickets, insert_events)
                    chunk = []
            if chunk:
                restored += _restore_chunk(conn, chunk, insert_tickets, insert_events)
            message = f"{restored} tickets restored from {archive}"
            values = audit_values(
                actor, "CLI", "tickets restore", "tickets.restore", 200, "tickets", [month], message=message
            )
            conn.execute(audit_log.insert().values(**values))
    except sa.exc.IntegrityError as err:
        raise ValidationError(f"tickets of {archive} are already stored; nothing was restored") from err
    forget(engine)
    return restored


def _restore_chunk(conn: sa.Connection, chunk: list[str], tickets_sql: Any, events_sql: Any) -> int:
    batch = "[" + ",".join(chunk) + "]"
    done = conn.execute(tickets_sql, {"batch": batch}).rowcount
    conn.execute(events_sql, {"batch": batch})
    return int(done)
