"""A province simulated on this machine, measured (``python -m bench --only province``; issue 16).

The store: ``GRIDGIS_PROVINCE_COPIES`` (default 8) copies of the city-scale sample side by side as
distinct counties (:func:`gridgis.scale.province.replicate`; 8 copies = 306,584 micro-grids) in a
PostGIS database of ``GRIDGIS_TEST_POSTGIS_URL``'s server, with ``GRIDGIS_PROVINCE_TICKETS``
(default 10⁷) tickets over 24 months spread over the counties (SQL ``generate_series``, the fill of
``bench/replica.py``), tickets partitioned by month (the schema at head); beside it a database with
the same tickets in the plain table of migration 0004 (the peer "without partitions"). Both are
built once and kept (``gridgis_province`` and ``gridgis_province_plain``; ``--scale small`` uses
``gridgis_province_small*``: 2 copies of the committed sample city, 200,000 tickets) and reused
while their key (sizes, sample, migration head) matches, so a rerun does not repeat the fill.

Measured, one table (each part reuses a bench module):

* routing through nginx with 1, 2 and 4 ``gridgis serve --counties`` pools over the province store
  (``bench/pools.py``'s wrk driver, ``tests/deploy/front.py``'s pools and generated front);
* replica lag of a stream of planner edits and ticket insert rates (``bench/replica.py``'s
  ``lag_and_inserts``, on a primary + ``pg_basebackup`` replica of its own), and the SQL insert rate
  into the 10⁷-ticket store (rolled back: the cached store does not change);
* one month's statistics with and without partitions (``bench/replica.py``'s ``_time_statistics``);
* one screen of tiles cold vs cached (``bench/tiles.py``), from a server over the province store;
* the Dask batch routing rate per worker (``bench/pools.py``'s ``_dask_rows``) over the store.

``python -m bench.province [--scale small|city] [--build-only]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import sqlalchemy as sa

#: bump when the way the store is built changes (a kept store with another key is rebuilt)
BUILD_VERSION = 2
SIZES = {"city": {"copies": 8, "tickets": 10_000_000}, "small": {"copies": 2, "tickets": 200_000}}
STATS_MONTH = "2026-06"


def _row(metric: str, value, unit: str = "", peer: str = "", ratio=None) -> dict:
    return {"benchmark": "province", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}


def sizes(scale: str) -> tuple[int, int]:
    """(copies, tickets) of ``scale``, overridden by ``GRIDGIS_PROVINCE_COPIES`` / ``_TICKETS``."""
    base = SIZES.get(scale, SIZES["small"])
    copies = int(os.environ.get("GRIDGIS_PROVINCE_COPIES") or base["copies"])
    tickets = int(os.environ.get("GRIDGIS_PROVINCE_TICKETS") or base["tickets"])
    return copies, tickets


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---------------------------------------------------------------------------------------- the store
def _city(scale: str) -> dict:
    """The city copied: the city-scale sample (``small``: the committed sample city)."""
    from bench.viewer import _city as viewer_city

    return {k: v for k, v in viewer_city(scale).items() if k != "tickets"}


def _key(scale: str, copies: int, tickets: int, partitioned: bool) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gridgis.storage.repository import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head() if partitioned else "0004"
    return f"v{BUILD_VERSION} sample={scale} copies={copies} tickets={tickets} schema={head}"


def _kept_key(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT key FROM bench_province")).scalar()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def _fill_fast(url: str, tickets: int, partitioned: bool, counties: list[str]) -> float:
    """``bench.replica._fill`` with the tickets' secondary indexes dropped during the fill and built
    again after it (the same end state, several times faster at 10⁷); seconds."""
    from bench.replica import _fill

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        indexes = conn.execute(
            sa.text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'tickets' "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            )
        ).all()
        for name, _ in indexes:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
    started = time.perf_counter()
    _fill(url, tickets, partitioned, counties=counties, analyze=False)
    with engine.begin() as conn:
        conn.execute(sa.text("SET maintenance_work_mem = '512MB'"))
        for _, definition in indexes:  # a partitioned parent's reads "ON ONLY tickets": build every partition's
            conn.execute(sa.text(definition.replace(" ON ONLY ", " ON ")))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE tickets"))
    engine.dispose()
    return time.perf_counter() - started


def build(scale: str = "small", log=print, database: str | None = None) -> dict:
    """The province store and its plain-tickets peer (``database`` and ``<database>_plain``, by default
    ``gridgis_province[_small]``), built unless kept with the same key; their URLs and sizes."""
    from alembic import command
    from alembic.config import Config

    from gridgis.scale.province import county_codes, replicate
    from gridgis.storage import Repository
    from gridgis.storage.repository import MIGRATIONS
    from tests.support.storage import create_database, drop_database, test_postgis_url

    copies, tickets = sizes(scale)
    counties = county_codes(copies)
    base = test_postgis_url()
    name = database or ("gridgis_province" if scale == "city" else f"gridgis_province_{scale}")
    out: dict = {"copies": copies, "tickets": tickets, "counties": counties, "built": []}
    for partitioned in (True, False):
        db = name if partitioned else f"{name}_plain"
        url = sa.make_url(base).set(database=db).render_as_string(hide_password=False)
        out["url" if partitioned else "plain_url"] = url
        key = _key(scale, copies, tickets, partitioned)
        if _kept_key(url) == key:
            log(f"{db}: kept ({key})")
            continue
        log(f"{db}: building ({key}), load {loadavg()}")
        drop_database(base, db)
        create_database(base, db)
        started = time.perf_counter()
        if partitioned:
            repo = Repository(url)
            repo.create_schema()
            t = time.perf_counter()
            city = replicate(_city(scale), counties)
            log(f"  {copies} copies: {len(city['micro_grids']):,} micro-grids ({time.perf_counter() - t:.0f} s)")
            t = time.perf_counter()
            repo.write_city(city, author="bench", message=f"province: {copies} copies of the {scale} sample")
            out["write_s"] = time.perf_counter() - t
            log(f"  write_city {out['write_s']:.0f} s")
            repo.dispose()
        else:
            engine = sa.create_engine(url)
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "0004")
            engine.dispose()
        fill_s = _fill_fast(url, tickets, partitioned, counties)
        log(f"  {tickets:,} tickets filled and indexed in {fill_s:.0f} s")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE bench_province (key text NOT NULL)"))
            conn.execute(sa.text("INSERT INTO bench_province VALUES (:k)"), {"k": key})
        engine.dispose()
        out["built"].append((db, time.perf_counter() - started))
    return out


# ------------------------------------------------------------------------------------------ measured
def _grids(url: str):
    from gridgis.storage import Repository

    repo = Repository(url)
    try:
        return repo.read_layer("grids"), repo.counts()
    finally:
        repo.dispose()


def _county_grids(grids, counties: list[str]):
    from gridgis.codes import county_of

    return grids[[county_of(c) in counties for c in grids["code"]]]


def statistics_rows(url: str, plain_url: str, tickets: int) -> list[dict]:
    """One month's statistics on the province store (partitioned) and on the plain-table peer."""
    from bench.replica import _time_statistics

    parts = _time_statistics(url, STATS_MONTH)
    plain = _time_statistics(plain_url, STATS_MONTH)
    scanned = sorted({w for w in parts["plan"].split() if w.startswith("tickets_m")})
    tag = f"{parts['tickets']:,} of {tickets:,} tickets"
    rows = [
        _row(
            f"statistics({STATS_MONTH}) aggregate in the server ({tag}), partitioned",
            round(parts["server_s"] * 1000, 1),
            "ms",
            f"plain table {plain['server_s'] * 1000:.1f} ms",
            round(parts["server_s"] / plain["server_s"], 2),
        ),
        _row(
            "the same aggregate with its rows fetched, partitioned",
            round(parts["fetched_s"] * 1000),
            "ms",
            f"plain table {plain['fetched_s'] * 1000:.0f} ms",
            round(parts["fetched_s"] / plain["fetched_s"], 2),
        ),
        _row(
            f"TicketStore.statistics({STATS_MONTH}) whole, partitioned",
            round(parts["whole_s"], 3),
            "s",
            f"plain table {plain['whole_s']:.3f} s",
            round(parts["whole_s"] / plain["whole_s"], 2),
        ),
        _row("partitions the month's plan reads", ", ".join(scanned) or "?"),
    ]
    if "summarise_s" in parts:
        batch = parts["rows_fetch_s"] + parts["summarise_s"]
        rows.append(
            _row(
                "batch path: the month's rows fetched into Python + summarise, partitioned",
                round(batch, 2),
                "s",
                f"statistics() {parts['whole_s']:.3f} s",
                round(batch / parts["whole_s"], 1),
            )
        )
    return rows


def insert_rows(url: str, plain_url: str, tickets: int, counties: list[str], n: int) -> list[dict]:
    """SQL insert rate of ``n`` more tickets (one month, every index in place) into the full store and into
    the plain peer, each in a transaction rolled back (the kept stores do not change)."""
    from bench.replica import FILL

    rates = []
    for target in (url, plain_url):
        engine = sa.create_engine(target)
        with engine.connect() as conn:
            trans = conn.begin()
            started = time.perf_counter()
            # lo..hi = 1..n with the store's own n: received in 2025-01, a month that exists and is full
            conn.execute(sa.text(FILL), {"n": tickets, "lo": 1, "hi": n, "counties": counties, "k": len(counties)})
            rates.append(n / (time.perf_counter() - started))
            trans.rollback()
        engine.dispose()
    return [
        _row(
            f"ticket insert rate, SQL batch of {n:,} into the {tickets:,}-ticket store (rolled back), partitioned",
            round(rates[0]),
            "tickets/s",
            f"plain table {rates[1]:,.0f}/s",
            round(rates[0] / rates[1], 2),
        )
    ]


def lag_rows(edits: int) -> list[dict]:
    """``bench.replica.lag_and_inserts``: its own primary + replica (``pg_basebackup``), a tiny city."""
    from bench.replica import lag_and_inserts

    rows = lag_and_inserts(edits)
    for r in rows:
        r["benchmark"] = "province"
        r["metric"] = f"{r['metric']} (own primary + replica, tiny city)"
    return rows


def tile_rows(url: str, county: str) -> list[dict]:
    """One screen (z15) of the six viewer layers over the first county, cold vs cached, GeoJSON and MVT,
    from a ``gridgis serve --counties <county>`` over the whole province store."""
    from bench.tiles import ZOOM, cold_and_cached, screen_tiles

    grids, _ = _grids(url)
    bounds = tuple(_county_grids(grids, [county]).total_bounds)
    tiles = screen_tiles(None, ZOOM, bounds=bounds)
    rows = []
    for ext in ("geojson", "mvt"):
        r = cold_and_cached(url, tiles, ext, env={"GRIDGIS_COUNTIES": county})
        label = f"{ext} screen z{ZOOM} ({int(r['requests'])} tiles)"
        rows += [
            _row(
                f"{label}: cold / cached / cached gzipped",
                f"{r['cold_s']:.2f} / {r['cached_s']:.2f} / {r['cached_gz_s']:.2f}",
                "s",
                "",
                round(r["cached_s"] / r["cold_s"], 3),
            ),
            _row(f"{label}: bytes plain / gzipped", f"{int(r['bytes']):,} / {int(r['gz']):,}", "B"),
            _row(f"{label}: server RSS after the screen", round(r["rss_mb"]), "MB"),
        ]
    return rows


def dask_rows(url: str, counties: list[str], n_points: int) -> list[dict]:
    """``bench.pools._dask_rows`` over the province store, points uniform over the first two counties."""
    from bench.pools import _dask_rows

    grids, _ = _grids(url)
    rows = _dask_rows(url, {"grids": _county_grids(grids, counties[:2])}, n_points)
    for r in rows:
        r["benchmark"] = "province"
    return rows


def route_rows(url: str, counties: list[str], seconds: float) -> list[dict]:
    """``bench.pools.routing_rows`` over the province store (points of every county)."""
    import tempfile

    from bench.pools import routing_rows
    from tests.deploy.front import county_points

    grids, _ = _grids(url)
    points = county_points({"grids": grids}, per_county=max(50, 800 // len(counties)))
    folder = Path(tempfile.mkdtemp(prefix="bench_province_"))
    return routing_rows(url, points, seconds, folder, benchmark="province", index_timeout=1800)


PARTS = ("statistics", "inserts", "tiles", "routing", "dask", "lag")
SETTINGS = {
    "small": {"seconds": 2.0, "points": 100_000, "edits": 20, "insert": 20_000},
    "city": {"seconds": 10.0, "points": 1_000_000, "edits": 200, "insert": 100_000},
}


def run(scale: str = "small", parts: tuple[str, ...] = PARTS, database: str | None = None) -> list[dict]:
    """The province table: sizes and load average first, then each part (a part that fails is one
    error row, the others still run)."""
    import traceback

    cfg = SETTINGS.get(scale, SETTINGS["small"])
    load0 = loadavg()
    store = build(scale, log=lambda m: print(m, flush=True), database=database)
    _, counts = _grids(store["url"])
    rows = [
        _row(
            "province store (PostGIS)",
            f"{store['copies']} counties × the {scale} sample",
            "",
            f"{counts['micro_grids']:,} micro-grids, {counts['grids']:,} grids, {counts['compounds']:,} compounds, "
            f"{counts['buildings']:,} buildings",
        ),
        _row("tickets (24 months, partitioned by month; plain-table peer beside)", f"{store['tickets']:,}", ""),
        _row(
            "store build (kept between runs)",
            ", ".join(f"{db} {s:.0f} s" for db, s in store["built"]) or "kept",
            "",
        ),
        _row("load average 1/5/15 min at the start (2 shared cores)", load0, ""),
    ]
    jobs = {
        "statistics": lambda: statistics_rows(store["url"], store["plain_url"], store["tickets"]),
        "inserts": lambda: insert_rows(
            store["url"], store["plain_url"], store["tickets"], store["counties"], cfg["insert"]
        ),
        "tiles": lambda: tile_rows(store["url"], store["counties"][0]),
        "routing": lambda: route_rows(store["url"], store["counties"], cfg["seconds"]),
        "dask": lambda: dask_rows(store["url"], store["counties"], int(cfg["points"])),
        "lag": lambda: lag_rows(int(cfg["edits"])),
    }
    for part in parts:
        started, before = time.perf_counter(), loadavg()
        try:
            rows += jobs[part]()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others
            traceback.print_exc()
            rows.append(_row("error", f"{part}: {type(exc).__name__}: {exc}"[:200]))
        rows.append(
            _row(
                f"part {part}: wall time; load average before → after",
                round(time.perf_counter() - started, 1),
                "s",
                f"{before} → {loadavg()}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=sorted(SIZES))
    parser.add_argument("--build-only", action="store_true", help="build (or keep) the stores and stop")
    parser.add_argument("--parts", nargs="*", choices=PARTS, default=list(PARTS))
    args = parser.parse_args()
    if args.build_only:
        print(build(args.scale, log=lambda m: print(m, flush=True)))
        return
    from bench.__main__ import print_table

    print_table(run(args.scale, tuple(args.parts)))


if __name__ == "__main__":
    main()
