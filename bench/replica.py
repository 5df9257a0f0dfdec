"""Replicated PostGIS and partitioned tickets: replica lag, ticket insert rate, monthly statistics.

``python -m bench --only replica`` (``--scale city`` for 10⁶ tickets), or
``python -m bench.replica --tickets 10000000`` for another size. Three parts:

* **Replica lag** on a primary and a streaming replica of the bench's own (``initdb`` +
  ``pg_basebackup -R`` on free ports, ``fsync=on``, both on this machine): a stream of planner
  edits (one grid renamed per commit, through ``Repository.apply_changes``), each timed from the
  commit's return to the moment the replica's ``generations`` shows it (a dedicated connection
  polling every 0.5 ms), first alone, then while a thread stores tickets as fast as it can.
* **Ticket insert rate** on that primary: ``TicketStore.create`` one by one (route, schedule,
  insert, event, audit: one transaction each) and ``create_many`` (chunks of 500).
* **Monthly statistics with and without partitions**: two throw-away databases on
  ``GRIDGIS_TEST_POSTGIS_URL``'s server, one at migration 0004 (plain ``tickets``), one at head
  (partitioned by month), filled with the same N tickets over 24 months in arrival order (SQL
  ``generate_series``); the one-month aggregate of ``TicketStore.statistics_query`` (in the server,
  and with its rows fetched) and the whole ``statistics(month)`` timed, median of 5, and once the
  batch path (the month's rows fetched, ``summarise``); ``ratio`` = partitioned / plain.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

import sqlalchemy as sa

SIZES = {"small": 100_000, "city": 1_000_000}
EDITS = {"small": 60, "city": 200}
G1 = "110105001001001"


def _row(metric: str, value: float, unit: str, peer: str = "", peer_value: float | None = None) -> dict:
    return {
        "benchmark": "replica",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "peer": "" if peer_value is None else f"{peer} {peer_value:.4g} {unit}",
        "ratio": round(value / peer_value, 2) if peer_value else "",
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------- lag
def _rename(repo: Any, name: str) -> int:
    from gridgis.storage.model import FeatureChange

    current = repo.get_feature("grids", G1)
    change = FeatureChange("grids", "replace", G1, {"name": name}, expected_version=current["version"])
    return repo.apply_changes([change], author="bench-planner", message=name).id


def _edit_lags(repo: Any, replica_conninfo: str, edits: int, pause_s: float) -> list[float]:
    """Seconds from each commit's return until the replica shows its generation."""
    import psycopg

    lags = []
    with psycopg.connect(replica_conninfo, autocommit=True) as watch:
        for k in range(edits):
            generation = _rename(repo, f"网格{k}")
            committed = time.perf_counter()
            while True:
                seen = watch.execute("SELECT coalesce(max(id), 0) FROM generations").fetchone()
                if seen is not None and int(seen[0]) >= generation:
                    break
                time.sleep(0.0005)
            lags.append(time.perf_counter() - committed)
            time.sleep(pause_s)
    return lags


def _ticket_load(store: Any, stop: threading.Event, made: list[int]) -> None:
    from gridgis.sample.tiny import tiny_city

    bounds = tiny_city()["micro_grids"].total_bounds
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    while not stop.is_set():
        store.create(x, y, matter_code="M11", actor="bench")
        made.append(1)


def lag_and_inserts(edits: int) -> list[dict]:
    from gridgis.sample.tiny import tiny_city
    from gridgis.storage import Repository
    from gridgis.tickets.dispatch import FrameRouter
    from gridgis.tickets.store import TicketStore
    from tests.support.replication import replicated_postgis

    rows: list[dict] = []
    city = tiny_city()
    with replicated_postgis(options="-c fsync=on -c hot_standby_feedback=on") as pair:
        repo = Repository(pair.primary_url, read_url=pair.replica_url)
        repo.create_schema()
        repo.write_city(city, author="bench", message="tiny city")
        pair.wait_replayed()
        conninfo = sa.make_url(pair.replica_url).set(drivername="postgresql").render_as_string(hide_password=False)
        idle = _edit_lags(repo, conninfo, edits, pause_s=0.02)
        rows += [
            _row(f"replica lag of a planner edit, idle primary ({edits} edits), p50", _pct(idle, 0.5) * 1000, "ms"),
            _row("replica lag of a planner edit, idle primary, p99", _pct(idle, 0.99) * 1000, "ms"),
        ]
        store = TicketStore(repo, router=FrameRouter(city["micro_grids"]))
        bounds = city["micro_grids"].total_bounds
        x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
        store.create(x, y, matter_code="M11", actor="bench")  # warm: partition of this month, caches
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < 8:
            store.create(x, y, matter_code="M11", actor="bench")
            n += 1
        one_by_one = n / (time.perf_counter() - started)
        reports = [{"lon": x, "lat": y, "matter_code": "M11"} for _ in range(5000)]
        t = time.perf_counter()
        created, _ = store.create_many(reports, actor="bench")
        many = len(created) / (time.perf_counter() - t)
        rows += [
            _row("ticket insert rate, TicketStore.create one by one (replicated primary)", one_by_one, "tickets/s"),
            _row("ticket insert rate, create_many chunks of 500", many, "tickets/s", "create one by one", one_by_one),
        ]
        stop, made = threading.Event(), []
        loader = threading.Thread(target=_ticket_load, args=(store, stop, made), daemon=True)
        started = time.perf_counter()
        loader.start()
        busy = _edit_lags(repo, conninfo, edits, pause_s=0.02)
        stop.set()
        loader.join(30)
        rate = len(made) / (time.perf_counter() - started)
        rows += [
            _row(
                "replica lag of a planner edit while tickets are stored, p50",
                _pct(busy, 0.5) * 1000,
                "ms",
                "idle p50",
                _pct(idle, 0.5) * 1000,
            ),
            _row(
                "replica lag of a planner edit while tickets are stored, p99",
                _pct(busy, 0.99) * 1000,
                "ms",
                "idle p99",
                _pct(idle, 0.99) * 1000,
            ),
            _row("tickets stored meanwhile (one writer thread)", rate, "tickets/s"),
        ]
        with repo.engine.connect() as conn:
            wal = conn.execute(
                sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication")
            ).scalar()
        rows.append(_row("replica WAL behind at the end (bytes)", float(wal or 0), "B"))
        repo.dispose()
    return rows


# ---------------------------------------------------------------------------------------- partitions
FILL = """
INSERT INTO tickets (status, matter_code, description, channel, lon, lat, geometry, micro_grid_code, grid_code,
    community_code, street_code, snapped, distance_m, level, received_at, solve_due, resolved_at, closed_at,
    close_reason, rating, escalations, overdue, updated_at, version)
SELECT CASE WHEN g % 10 < 8 THEN 'closed' ELSE 'processing' END, 'M11', '', 'app', lon, lat,
    ST_SetSRID(ST_MakePoint(lon, lat), 4326), grid || '01', grid, substr(grid, 1, 12), substr(grid, 1, 9) || '000',
    false, 0, 'community', received, received + interval '3 days',
    CASE WHEN g % 10 < 8 THEN received + interval '2 days' END, CASE WHEN g % 10 < 8 THEN received + interval '2 days' END,
    NULL, CASE WHEN g % 10 < 5 THEN 1 + g % 5 END, 0, g % 17 = 0, received, 1
FROM (
    SELECT g, 121.40 + (g % 997) * 0.0002 AS lon, 31.20 + (g % 991) * 0.0002 AS lat,
        (CAST(:counties AS text[]))[1 + g % :k] || lpad((g % 20 + 1)::text, 3, '0') || lpad((g % 7 + 1)::text, 3, '0')
            || lpad((g % 11 + 1)::text, 3, '0') AS grid,
        timestamptz '2025-01-01 00:00:00+08' + (g::float8 / :n) * interval '730 days' AS received
    FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g
) s
"""


def _fill(
    url: str, n: int, partitioned: bool, counties: list[str] | tuple[str, ...] = ("310115",), analyze: bool = True
) -> float:
    """Insert ``n`` tickets over 24 months (2025-01 … 2026-12) in arrival order, ticket ``g`` in county
    ``counties[g % len(counties)]``; seconds (``VACUUM ANALYZE`` included unless ``analyze`` is false)."""
    from gridgis.storage.partitions import ensure_months, month_bounds, next_month

    engine = sa.create_engine(url)
    if partitioned:
        ensure_months(engine, [month_bounds(next_month("2025-01", k))[0] for k in range(25)])
    started = time.perf_counter()
    step = 200_000
    for lo in range(1, n + 1, step):
        with engine.begin() as conn:
            conn.execute(
                sa.text(FILL),
                {"n": n, "lo": lo, "hi": min(n, lo + step - 1), "counties": list(counties), "k": len(counties)},
            )
    if analyze:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE tickets"))
    engine.dispose()
    return time.perf_counter() - started


def _time_statistics(url: str, month: str, rows_path: bool = True) -> dict[str, Any]:
    """Median s of the one-month statistics aggregate in the server (EXPLAIN ANALYZE), with its rows
    fetched, and of ``statistics(month)``; once, the month's ticket rows fetched and ``summarise``d in
    Python (the batch path); the aggregate's rows; its plan."""
    from gridgis.storage import Repository
    from gridgis.tickets.calendar import SHANGHAI
    from gridgis.tickets.stats import COLUMNS, month_range, summarise
    from gridgis.tickets.store import TicketStore, tickets

    repo = Repository(url)
    store = TicketStore(repo, router=object())
    query = store.statistics_query(month)
    out: dict[str, Any] = {}
    with repo.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect)
        out["plan"] = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars())
        server = []
        for _ in range(5):
            analyzed = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + compiled.string, compiled.params)
            lines = list(analyzed.scalars())
            server.append(float(next(x for x in lines if x.startswith("Execution Time")).split()[2]) / 1000)
        times = []
        for _ in range(6):
            t = time.perf_counter()
            out["areas"] = len(conn.exec_driver_sql(compiled.string, compiled.params).all())
            times.append(time.perf_counter() - t)
        lo, hi = month_range(month, SHANGHAI)
        out["tickets"] = conn.execute(
            sa.select(sa.func.count()).where(tickets.c.received_at >= lo, tickets.c.received_at < hi)
        ).scalar_one()
    out["server_s"], out["fetched_s"] = statistics.median(server), statistics.median(times[1:])
    whole, cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        store.statistics(month)
        whole.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out["whole_s"], out["whole_cpu_s"] = statistics.median(whole), statistics.median(cpu)
    if rows_path:  # the batch path: the month's rows into Python, then summarise (in-memory SQLite)
        q = sa.select(*[tickets.c[k] for k in COLUMNS]).where(tickets.c.received_at >= lo, tickets.c.received_at < hi)
        t = time.perf_counter()
        with repo.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        out["rows_fetch_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summarise(rows, tz=SHANGHAI)
        out["summarise_s"] = time.perf_counter() - t
    repo.dispose()
    return out


def _drop_oldest_month(url: str, partitioned: bool) -> tuple[float, float | None]:
    """Seconds to remove 2025-01 (DETACH + DROP, or DELETE), and, partitioned, to run the whole
    retention of 2025-02 (archive file included) once its tickets are closed."""
    import tempfile
    from pathlib import Path

    from gridgis.storage.partitions import month_bounds, retention

    engine = sa.create_engine(url)
    lo, hi = month_bounds("2025-01")
    started = time.perf_counter()
    with engine.begin() as conn:
        if partitioned:
            conn.execute(sa.text("ALTER TABLE tickets DETACH PARTITION tickets_m202501"))
            conn.execute(sa.text("DROP TABLE tickets_m202501"))
        else:
            conn.execute(
                sa.text("DELETE FROM tickets WHERE received_at >= :lo AND received_at < :hi"), {"lo": lo, "hi": hi}
            )
    removed = time.perf_counter() - started
    whole = None
    if partitioned:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE tickets_m202502 SET closed_at = received_at WHERE closed_at IS NULL"))
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            retention(engine, "2025-03", Path(folder), commit=True, actor="bench")
            whole = time.perf_counter() - started
    engine.dispose()
    return removed, whole


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def statistics_rows(n: int, plain: dict[str, Any], parts: dict[str, Any], month: str = "2026-06") -> list[dict]:
    """The table rows of the statistics part from :func:`_time_statistics` of both databases."""
    scanned = sorted({w for w in parts["plan"].split() if w.startswith("tickets_m")})
    rows = [
        _row(
            f"one month's statistics aggregate in the server ({parts['tickets']:,} of {n:,} tickets, "
            f"{parts['areas']:,} grids), partitioned",
            parts["server_s"] * 1000,
            "ms",
            "plain",
            plain["server_s"] * 1000,
        ),
        _row(
            "the same with its rows fetched, partitioned",
            parts["fetched_s"] * 1000,
            "ms",
            "plain",
            plain["fetched_s"] * 1000,
        ),
        _row(
            f"statistics({month}) (the whole call), partitioned",
            parts["whole_s"] * 1000,
            "ms",
            "plain",
            plain["whole_s"] * 1000,
        ),
        _row(
            "  of which CPU time in Python, partitioned",
            parts["whole_cpu_s"] * 1000,
            "ms",
            "plain",
            plain["whole_cpu_s"] * 1000,
        ),
    ]
    if "summarise_s" in parts:
        rows.append(
            _row(
                "batch path: the month's rows fetched + summarise (in-memory SQLite), partitioned",
                (parts["rows_fetch_s"] + parts["summarise_s"]) * 1000,
                "ms",
                "statistics()",
                parts["whole_s"] * 1000,
            )
        )
    rows.append(
        {
            "benchmark": "replica",
            "metric": "partitions the month's plan reads",
            "value": ", ".join(scanned) or "?",
            "unit": "",
            "peer": "",
            "ratio": "",
        }
    )
    return rows


def partitioned_statistics(n: int) -> list[dict]:
    from alembic import command
    from alembic.config import Config

    from gridgis.storage.repository import MIGRATIONS
    from tests.support.storage import temporary_postgis_database, test_postgis_url

    base = test_postgis_url()
    month = "2026-06"
    fills: dict[bool, float] = {}
    timed: dict[bool, dict[str, Any]] = {}
    dropped: dict[bool, tuple[float, float | None]] = {}
    for partitioned in (False, True):
        with temporary_postgis_database(base, prefix="gridgis_bench_parts") as url:
            engine = sa.create_engine(url)
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head" if partitioned else "0004")
            engine.dispose()
            fills[partitioned] = _fill(url, n, partitioned)
            timed[partitioned] = _time_statistics(url, month, rows_path=partitioned)
            dropped[partitioned] = _drop_oldest_month(url, partitioned)
    return [
        _row(
            f"fill {n:,} tickets over 24 months, partitioned (SQL)",
            n / fills[True],
            "tickets/s",
            "plain",
            n / fills[False],
        ),
        *statistics_rows(n, timed[False], timed[True], month),
        _row(
            "removing the oldest month: DETACH + DROP its partition vs DELETE its rows",
            dropped[True][0] * 1000,
            "ms",
            "DELETE",
            dropped[False][0] * 1000,
        ),
        _row("gridgis tickets retention of that month incl. its archive file", (dropped[True][1] or 0) * 1000, "ms"),
        {
            "benchmark": "replica",
            "metric": "load average at the end",
            "value": _load(),
            "unit": "",
            "peer": "",
            "ratio": "",
        },
    ]


def run(scale: str = "small", tickets: int | None = None, edits: int | None = None) -> list[dict]:
    rows = lag_and_inserts(edits or EDITS.get(scale, EDITS["small"]))
    rows += partitioned_statistics(tickets or SIZES.get(scale, SIZES["small"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=sorted(SIZES))
    parser.add_argument("--tickets", type=int, default=None, help="tickets of the statistics part")
    parser.add_argument("--edits", type=int, default=None, help="planner edits of the lag part")
    parser.add_argument("--only", choices=["lag", "partitions"], default=None)
    args = parser.parse_args()
    from bench.__main__ import print_table

    if args.only == "lag":
        rows = lag_and_inserts(args.edits or EDITS[args.scale])
    elif args.only == "partitions":
        rows = partitioned_statistics(args.tickets or SIZES[args.scale])
    else:
        rows = run(args.scale, args.tickets, args.edits)
    print_table(rows)


if __name__ == "__main__":
    main()
