"""Routing benchmarks: batch point-in-polygon against geopandas.sjoin and a PostGIS ST_Contains join,
and single-lookup latency.

``run("city")``: 1,000,000 uniform points over the city-scale sample (``generate_city(scale="city")``,
~37,000 micro-grids; the synthetic lattice city of :mod:`gridgis.sample.lattice` when the
generator is unavailable). ``run("small")``: 200,000 points over the committed sample city.

Every peer gets the same points and polygons; the answers are compared point by point (the
micro-grid code per point) and the number of disagreements is reported. Timings exclude
building the peers' inputs (the points GeoDataFrame for sjoin, the loaded tables for PostGIS),
which favours the peers.
"""

from __future__ import annotations

import gc
import io
import time

import geopandas as gpd
import numpy as np
import shapely

N_POINTS = {"small": 200_000, "city": 1_000_000}


def _city(scale: str) -> tuple[dict, str]:
    keep = ("streets", "communities", "grids", "micro_grids", "compounds", "buildings")
    try:
        from gridgis.sample import generate_city

        city = generate_city(scale=scale, tickets=0)
        return {k: v for k, v in city.items() if k in keep}, f"gridgis.sample.generate_city(scale={scale!r})"
    except Exception as err:  # noqa: BLE001 - the generator is another area's; fall back to the synthetic lattice
        from gridgis.sample.lattice import synthetic_city

        n = 64 if scale == "city" else 20
        return synthetic_city(n, n, micro=3), f"synthetic_city({n}x{n}x9) (generator failed: {err})"


def _points(micro: gpd.GeoDataFrame, n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    b = micro.total_bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(b[0], b[2], n), rng.uniform(b[1], b[3], n)


def _row(metric, value, unit, peer="", ratio=""):
    return {"benchmark": "routing", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}


def _codes_from_pairs(n: int, left: np.ndarray, right_codes: np.ndarray) -> np.ndarray:
    """One code per point from (point, code) pairs: None when unmatched, "<several>" when matched twice."""
    out = np.full(n, None, dtype=object)
    out[left] = right_codes
    counts = np.bincount(left, minlength=n)
    out[counts > 1] = "<several>"
    return out


def _postgis(micro: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """ST_Contains join in a temporary PostGIS database: (seconds of the join, code per point)."""
    import psycopg
    import sqlalchemy as sa

    from tests.support.storage import temporary_postgis_database

    with temporary_postgis_database(prefix="gridgis_bench_routing") as url:
        conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE mg (code text, geom geometry)")
            with conn.cursor().copy("COPY mg (code, geom) FROM STDIN") as cp:
                for code, wkb in zip(micro["code"], shapely.to_wkb(micro.geometry.values, hex=True)):
                    cp.write_row((code, wkb))
            conn.execute("UPDATE mg SET geom = ST_SetSRID(geom, 4326)")
            conn.execute("CREATE INDEX ON mg USING gist (geom)")
            conn.execute("CREATE TABLE pts (id int, x float8, y float8)")
            buf = io.StringIO()
            np.savetxt(buf, np.column_stack([np.arange(len(x)), x, y]), fmt=["%d", "%.10f", "%.10f"], delimiter="\t")
            with conn.cursor().copy("COPY pts (id, x, y) FROM STDIN") as cp:
                cp.write(buf.getvalue())
            conn.execute("ALTER TABLE pts ADD COLUMN geom geometry(Point, 4326)")
            conn.execute("UPDATE pts SET geom = ST_SetSRID(ST_MakePoint(x, y), 4326)")
            conn.execute("ANALYZE mg")
            conn.execute("ANALYZE pts")
            t0 = time.perf_counter()
            conn.execute(
                "CREATE TABLE joined AS SELECT p.id, m.code FROM pts p JOIN mg m ON ST_Contains(m.geom, p.geom)"
            )
            took = time.perf_counter() - t0
            rows = conn.execute("SELECT id, code FROM joined").fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    codes = np.array([r[1] for r in rows], dtype=object)
    return took, _codes_from_pairs(len(x), ids, codes)


def _best(fn, repeat: int):
    """(best wall time in s, result) over ``repeat`` runs: the machine is shared, the best run is the
    one least disturbed by other processes (applied alike to us and to the peers)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _latency(fn, xs, ys, passes: int = 1) -> tuple[float, float]:
    """p50/p99 in µs; with ``passes`` > 1, of each point's best time (removes other processes' noise)."""
    times = np.full(len(xs), np.inf)
    clock = time.perf_counter_ns
    for _ in range(passes):
        for i, (a, b) in enumerate(zip(xs, ys)):
            t0 = clock()
            fn(a, b)
            times[i] = min(times[i], clock() - t0)
    return float(np.percentile(times, 50) / 1000), float(np.percentile(times, 99) / 1000)


def run(scale: str = "small") -> list[dict]:
    from gridgis.routing import RoutingIndex

    n = N_POINTS.get(scale, N_POINTS["small"])
    city, source = _city(scale)
    micro = city["micro_grids"].sort_values("code").reset_index(drop=True)
    rows = [_row("city", f"{source}: {len(micro)} micro-grids, {len(city['grids'])} grids", "")]
    t0 = time.perf_counter()
    index = RoutingIndex.build(city)
    rows.append(_row("index build (all layers)", round(time.perf_counter() - t0, 2), "s"))
    rows.append(_row("micro-grid raster", str(index.micro_loc.stats), ""))
    x, y = _points(micro, n)

    ours_s, (first, _mp, _mpoly) = _best(lambda: index.micro_loc.locate(x, y), 3)
    ours = index.m_code[np.where(first >= 0, first, -1)]
    full_s, full = _best(lambda: index.route_many(x, y), 3)
    lean_s, lean = _best(lambda: index.route_many(x, y, with_compounds=False), 3)
    # the same index written once and mapped read-only, as every `gridgis serve` worker holds it
    import tempfile
    from pathlib import Path

    from gridgis.routing import shared

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        mapped = shared.read(shared.write(index, Path(tmp) / "index.idx"))
        mapped.warm_up()
        map_build_s = time.perf_counter() - t0
        mapped_s, mapped_full = _best(lambda m=mapped: m.route_many(x, y), 3)
        del mapped

    from gridgis.routing import kernels

    compiled = kernels.AVAILABLE
    kernels.AVAILABLE = False  # the same calls on the numpy path, to show what the compiled kernels add
    try:
        numpy_s, numpy_full = _best(lambda: index.route_many(x, y), 2)
    finally:
        kernels.AVAILABLE = compiled

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    sjoin_s, joined = _best(lambda p=pts: gpd.sjoin(p, micro[["code", "geometry"]], predicate="within", how="inner"), 3)
    peer = _codes_from_pairs(n, joined.index.to_numpy(), joined["code"].to_numpy())
    rows += [
        _row(
            f"batch micro-grid lookup, {n:,} points",
            round(n / ours_s),
            "points/s",
            "geopandas.sjoin",
            round(sjoin_s / ours_s, 1),
        ),
        _row("geopandas.sjoin (within)", round(n / sjoin_s), "points/s", "", ""),
        _row(
            f"batch route_many (micro-grid→street, tie rule, snapping, reasons; `gridgis route` files), {n:,} points",
            round(n / lean_s),
            "points/s",
            "geopandas.sjoin (micro-grids only)",
            round(sjoin_s / lean_s, 1),
        ),
        _row(
            f"batch route_many + compound and building (default; POST /route), {n:,} points",
            round(n / full_s),
            "points/s",
            "geopandas.sjoin (micro-grids only)",
            round(sjoin_s / full_s, 1),
        ),
        _row(
            f"batch route_many default on the index mapped from its shared file (`gridgis serve`), {n:,} points",
            round(n / mapped_s),
            "points/s",
            "geopandas.sjoin (micro-grids only)",
            round(sjoin_s / mapped_s, 1),
        ),
        _row("write + map the shared index file", round(map_build_s, 2), "s", "", ""),
        _row(
            "rows differing between the mapped and the in-memory index",
            int(len(full) - ((full == mapped_full) | (full.isna() & mapped_full.isna())).all(axis=1).sum()),
            "rows",
            "",
            "",
        ),
        _row(
            f"batch route_many default on the numpy path (GRIDGIS_ROUTING_JIT=0), {n:,} points",
            round(n / numpy_s),
            "points/s",
            "geopandas.sjoin (micro-grids only)",
            round(sjoin_s / numpy_s, 1),
        ),
        _row("compiled kernels vs numpy path, default route_many", round(numpy_s / full_s, 2), "×", "", ""),
        _row(
            "rows differing between the compiled and the numpy path",
            int(len(full) - ((full == numpy_full) | (full.isna() & numpy_full.isna())).all(axis=1).sum()),
            "rows",
            "",
            "",
        ),
        _row(
            "route_many micro-grid answers differing from sjoin",
            int(np.sum(np.where(lean["snapped"].to_numpy(), None, lean["micro_grid_code"].to_numpy()) != peer)),
            "points",
            "geopandas.sjoin",
            "",
        ),
        _row("answers differing from sjoin", int(np.sum(ours != peer)), "points", "geopandas.sjoin", ""),
        _row("points inside a micro-grid", int(np.sum(first >= 0)), "points", "", ""),
    ]
    try:
        pg_s, pg = _postgis(micro, x, y)
        rows += [
            _row("PostGIS ST_Contains join (GiST)", round(n / pg_s), "points/s"),
            _row(
                f"batch micro-grid lookup vs PostGIS, {n:,} points",
                round(n / ours_s),
                "points/s",
                "PostGIS ST_Contains",
                round(pg_s / ours_s, 1),
            ),
            _row("answers differing from PostGIS", int(np.sum(ours != pg)), "points", "PostGIS ST_Contains", ""),
        ]
    except Exception as err:  # noqa: BLE001 - no server: say so rather than fail the other rows
        rows.append(_row("PostGIS ST_Contains join", f"skipped: {type(err).__name__}: {err}"[:160], ""))

    del full, lean, numpy_full, joined, pts  # a million-row frame alive makes the collector's passes longer
    gc.collect()
    inside = np.flatnonzero(first >= 0)[:20_000]
    xs, ys = x[inside].tolist(), y[inside].tolist()
    _latency(index.route, xs[:2000], ys[:2000])  # warm up
    p50, p99 = _latency(index.route, xs, ys)
    rows += [
        _row("single route() p50 (WGS84, in process)", round(p50, 2), "µs"),
        _row("single route() p99 (WGS84, in process)", round(p99, 2), "µs", "target 20 µs", round(20.0 / p99, 2)),
    ]
    b50, b99 = _latency(index.route, xs, ys, passes=3)
    rows += [
        _row("single route() p50, best of 3 passes per point", round(b50, 2), "µs"),
        _row(
            "single route() p99, best of 3 passes per point", round(b99, 2), "µs", "target 20 µs", round(20.0 / b99, 2)
        ),
    ]
    p50, p99 = _latency(index.micro_loc.locate_one, xs, ys)
    rows += [
        _row("single micro-grid locate_one() p50", round(p50, 2), "µs"),
        _row("single micro-grid locate_one() p99", round(p99, 2), "µs"),
    ]
    return rows


if __name__ == "__main__":  # pragma: no cover
    import sys

    for r in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(r)
