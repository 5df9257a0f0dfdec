"""People benchmark: responsibility coverage of the sample city and the time to build an emergency roster.

``run("small")``: the committed sample city (data/geojson) with its synthetic population;
``run("city")``: the city-scale sample (``generate_city(scale="city")``, ~37,000 micro-grids) with a
population drawn the same way (activities left out: they do not enter the roster). Both are written
to a temporary SQLite store first (not timed, reported). Timed: loading the population, the
responsibility check, and the roster of one street and of the whole city (building the roster
includes reading persons, assignments and the care register from the store and the nearest stations).

Peer: the least work a roster needs — one pandas ``groupby`` of the same persons by micro-grid,
read from the same store — measured in the same run; the ratio says what the rest costs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def _city(scale: str) -> dict:
    if scale == "small":
        from gridgis.io import read_city

        city = read_city(Path(__file__).resolve().parents[1] / "data" / "geojson")
        return {k: v for k, v in city.items() if k != "tickets"}
    from gridgis.sample import generate_city

    return {k: _valid(v) for k, v in generate_city(scale=scale, tickets=0).items() if k != "tickets"}


def _valid(frame):
    """The frame with invalid polygons repaired (the city-scale generator leaves a few degenerate rings;
    reported to the sample area). Only polygonal parts are kept."""
    import shapely

    geoms = frame.geometry.values
    bad = ~shapely.is_valid(geoms)
    if not bad.any() or frame.geometry.geom_type.iloc[0] == "Point":
        return frame
    fixed = []
    for g in geoms[bad]:
        parts = [p for p in shapely.get_parts(shapely.make_valid(g)) if p.geom_type in ("Polygon", "MultiPolygon")]
        polys = [q for p in parts for q in shapely.get_parts(p)]
        fixed.append(polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys))
    frame = frame.copy()
    frame.loc[bad, "geometry"] = fixed
    return frame


def run(scale: str = "small", echo=None) -> list[dict]:
    """The rows of the benchmark; ``echo(row)`` is called as each is measured (a long city run shows progress)."""
    import pandas as pd
    import sqlalchemy as sa

    from gridgis.people import tables as T
    from gridgis.people.load import load_population
    from gridgis.people.roster import build_roster
    from gridgis.people.service import coverage_report
    from gridgis.people.store import PeopleStore
    from gridgis.sample.population import generate_population
    from gridgis.storage import Repository

    def row(metric, value, unit, peer="", ratio=""):
        out = {"benchmark": "people", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}
        if echo is not None:
            echo(out)
        return out

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        city = _city(scale)
        repo = Repository(f"sqlite:///{Path(tmp) / 'people.db'}")
        repo.create_schema()
        repo.write_city(city, author="bench", message="bench city")
        t1 = time.perf_counter()
        sizes = f"{len(city['micro_grids']):,} micro-grids, {len(city['buildings']):,} buildings"
        rows.append(row(f"input ({scale}: {sizes}) generated and stored", round(t1 - t0, 1), "s (not timed)"))
        store = PeopleStore(repo)
        store.placer  # noqa: B018 - the routing index is built once, reported apart
        t2 = time.perf_counter()
        rows.append(row("placer: routing index + every building routed", round(t2 - t1, 2), "s"))
        pop = generate_population(repo.read_city(), seed=0, activity_months=9 if scale == "small" else 0)
        t3 = time.perf_counter()
        counts = load_population(store, pop)
        t4 = time.perf_counter()
        rows.append(
            row(
                f"population generated ({len(pop.persons):,} persons, {len(pop.care):,} care records)",
                round(t3 - t2, 2),
                "s",
            )
        )
        rows.append(
            row(
                f"population loaded ({counts['assignments']:,} assignments, {counts['activities']:,} activities)",
                round(t4 - t3, 2),
                "s",
            )
        )
        report = coverage_report(store)
        t5 = time.perf_counter()
        s = report.summary()
        rows.append(row("responsibility check, whole city", round(t5 - t4, 2), "s"))
        rows.append(
            row("share of buildings covered (包栋 or every unit 包单元)", round(s["share_covered"], 4), "share")
        )
        rows.append(
            row(
                "micro-grids without their worker / persons over-assigned",
                f"{s['micro_grids_without_worker']} / {s['over_assigned']}",
                "",
            )
        )
        street = str(city["streets"]["code"].iloc[0])
        for area, label in ((street, f"one street ({street})"), ("", "whole city")):
            t6 = time.perf_counter()
            with store.engine.connect() as conn:
                q = sa.select(T.persons.c.id, T.persons.c.micro_grid_code, T.persons.c.kind, T.persons.c.member_kind)
                if area:
                    q = q.where(T.persons.c.street_code == area)
                frame = pd.DataFrame(conn.execute(q).all())
            _ = frame.groupby("micro_grid_code").size()
            t7 = time.perf_counter()
            roster = build_roster(store, area, "flood")
            t8 = time.perf_counter()
            summary = roster.summary()
            rows.append(
                row(
                    f"roster (flood), {label}: {summary['micro_grids']:,} micro-grids, {summary['members']:,} members, "
                    f"{summary['volunteers']:,} volunteers, {summary['vulnerable']:,} vulnerable",
                    round(t8 - t7, 2),
                    "s",
                    f"groupby of persons {t7 - t6:.3f} s",
                    round((t8 - t7) / max(t7 - t6, 1e-6), 1),
                )
            )
        repo.dispose()
    return rows


if __name__ == "__main__":  # pragma: no cover
    run(
        sys.argv[1] if len(sys.argv) > 1 else "small",
        echo=lambda r: print(f"{r['metric']}: {r['value']} {r['unit']} {r['peer']} {r['ratio']}", flush=True),
    )
