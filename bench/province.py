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
    from alembic.script import ScriptDirectory

    from gridgis.storage.repository import MIGRATIONS

    from alembic.config import Config

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


def build(scale: str = "small", log=print) -> dict:
    """The province store and its plain-tickets peer, built unless kept with the same key; their URLs."""
    from alembic import command
    from alembic.config import Config

    from gridgis.scale.province import county_codes, replicate
    from gridgis.storage import Repository
    from gridgis.storage.repository import MIGRATIONS
    from tests.support.storage import create_database, drop_database, test_postgis_url

    copies, tickets = sizes(scale)
    counties = county_codes(copies)
    base = test_postgis_url()
    name = "gridgis_province" if scale == "city" else f"gridgis_province_{scale}"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=sorted(SIZES))
    parser.add_argument("--build-only", action="store_true", help="build (or keep) the stores and stop")
    args = parser.parse_args()
    if args.build_only:
        print(build(args.scale, log=lambda m: print(m, flush=True)))
        return
    from bench.__main__ import print_table

    print_table(run(args.scale))


if __name__ == "__main__":
    main()
