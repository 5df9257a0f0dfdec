"""Storage benchmarks: writing and reading micro-grids on SQLite and PostGIS, against geopandas peers.

``run("small")`` uses 3,700 micro-grids, ``run("city")`` the 37,000 of a seed city. Each backend
gets a throw-away store (a temporary SQLite file; a temporary PostGIS database on
``GRIDGIS_TEST_POSTGIS_URL``'s server). Peers on the same frame: GeoPackage via pyogrio for
SQLite, ``GeoDataFrame.to_postgis``/``read_postgis`` for PostGIS. ``ratio`` = ours / peer time.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridgis.layers import check_frame, get_spec
from gridgis.storage import FeatureChange, Repository

SIZES = {"small": 3_700, "city": 37_000}
PER_GRID = 50


def micro_grids(n: int) -> gpd.GeoDataFrame:
    """``n`` valid micro-grids (~110 m squares) in a block of Shanghai Pudong, 50 per grid."""
    i = np.arange(n)
    side = 0.001
    cols = int(np.ceil(np.sqrt(n)))
    x0 = 121.50 + (i % cols) * side
    y0 = 31.20 + (i // cols) * side
    geoms = shapely.box(x0, y0, x0 + side, y0 + side)
    grid_seq = i // PER_GRID + 1
    grid_codes = np.char.add("310115005001", np.char.zfill(grid_seq.astype(str), 3))
    codes = np.char.add(grid_codes, np.char.zfill((i % PER_GRID + 1).astype(str), 2))
    return gpd.GeoDataFrame(
        {
            "code": codes.astype(object),
            "name": [f"第{k + 1}微网格" for k in i],
            "grid_code": grid_codes.astype(object),
            "households": 40 + i % 30,
            "workers": [[{"name": "微网格员", "role": "auxiliary"}] for _ in i],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _row(metric: str, value: float, unit: str, peer: str = "", peer_value: float | None = None) -> dict:
    ratio = round(value / peer_value, 2) if peer_value else ""
    return {
        "benchmark": "storage",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "peer": "" if peer_value is None else f"{peer} {peer_value:.3g} {unit}",
        "ratio": ratio,
    }


def _store_only(repo: Repository, frame: gpd.GeoDataFrame) -> float:
    """The storage part of write_city alone: rows from a validated frame, written as a new layer
    generation after retiring the layer (so every feature is inserted again)."""
    from gridgis.storage import queries
    from gridgis.storage.rows import frame_to_rows

    spec = get_spec("micro_grids")
    checked = check_frame(spec, frame)
    repo.write_city({"micro_grids": checked.iloc[:0]}, author="bench")  # retire every micro-grid
    t = time.perf_counter()
    with repo._writing("bench") as conn:
        queries.sync_layers(
            conn,
            {"micro_grids": frame_to_rows(spec, checked)},
            "bench",
            "",
            retire_missing=True,
            postgis=repo.is_postgis,
        )
    return time.perf_counter() - t


def _bench_repo(
    repo: Repository, frame: gpd.GeoDataFrame, label: str, check_s: float
) -> tuple[list[dict], dict[str, float]]:
    n = len(frame)
    repo.create_schema()
    write_s, _ = _timed(lambda: repo.write_city({"micro_grids": frame}, author="bench"))
    read_s, back = _timed(lambda: repo.read_layer("micro_grids"))
    assert len(back) == n
    same_s, _ = _timed(lambda: repo.write_city({"micro_grids": frame}, author="bench"))
    changed = frame.copy()
    step = max(1, n // 100)
    changed.loc[changed.index[::step], "households"] = 999
    change_s, _ = _timed(lambda: repo.write_city({"micro_grids": changed}, author="bench"))
    minx, miny = frame.total_bounds[:2]
    boxes = [
        (minx + k * 0.002, miny + k * 0.002, minx + k * 0.002 + 0.005, miny + k * 0.002 + 0.005) for k in range(20)
    ]
    bbox_times = [_timed(lambda b=b: repo.read_layer("micro_grids", bbox=b))[0] for b in boxes]
    codes = back["code"].tolist()
    edit_times = []
    for k in range(20):
        code = codes[(k * 7919) % n]
        version = repo.get_feature("micro_grids", code)["version"]
        edit_times.append(
            _timed(
                lambda c=code, v=version: repo.apply_changes(
                    [FeatureChange("micro_grids", "replace", c, {"households": 77}, expected_version=v)], author="bench"
                )
            )[0]
        )
    raw = {"write": write_s, "read": read_s, "store": _store_only(repo, frame)}
    rows = [
        _row(f"{label}: write_city {n:,} micro-grids (incl. validation)", write_s, "s"),
        _row(f"{label}: storing {n:,} validated micro-grids (write_city without check_frame)", raw["store"], "s"),
        _row(f"{label}: write_city throughput", n / write_s, "features/s"),
        _row(f"{label}: read_layer {n:,} micro-grids", read_s, "s"),
        _row(f"{label}: rewrite unchanged (change detection)", same_s, "s"),
        _row(f"{label}: rewrite with 1% changed", change_s, "s"),
        _row(f"{label}: read_layer bbox (~25 features), median", statistics.median(bbox_times) * 1000, "ms"),
        _row(f"{label}: apply_changes one feature, median", statistics.median(edit_times) * 1000, "ms"),
    ]
    return rows, raw


def run(scale: str = "small") -> list[dict]:
    from tests.support.storage import temporary_postgis_database

    frame = micro_grids(SIZES.get(scale, SIZES["small"]))
    check_s, checked = _timed(lambda: check_frame(get_spec("micro_grids"), frame))
    rows = [_row(f"check_frame {len(frame):,} micro-grids (validation alone)", check_s, "s")]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repository(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            sqlite_rows, raw = _bench_repo(repo, frame, "SQLite", check_s)
        finally:
            repo.dispose()
        gpkg = Path(tmp) / "peer.gpkg"
        peer_write, _ = _timed(lambda: checked.to_file(gpkg, driver="GPKG", engine="pyogrio"))
        peer_read, _ = _timed(lambda: gpd.read_file(gpkg, engine="pyogrio"))
        sqlite_rows[1] = _row(sqlite_rows[1]["metric"], raw["store"], "s", "GeoPackage (pyogrio)", peer_write)
        sqlite_rows[3] = _row(sqlite_rows[3]["metric"], raw["read"], "s", "GeoPackage (pyogrio)", peer_read)
        rows += sqlite_rows
    with temporary_postgis_database(prefix="gridgis_bench") as url:
        repo = Repository(url)
        try:
            pg_rows, raw = _bench_repo(repo, frame, "PostGIS", check_s)
            peer = checked.copy()
            peer["workers"] = peer["workers"].map(str)
            peer_write, _ = _timed(lambda: peer.to_postgis("peer_micro_grids", repo.engine, if_exists="replace"))
            peer_read, _ = _timed(
                lambda: gpd.read_postgis("SELECT * FROM peer_micro_grids", repo.engine, geom_col="geometry")
            )
        finally:
            repo.dispose()
        pg_rows[1] = _row(pg_rows[1]["metric"], raw["store"], "s", "geopandas to_postgis", peer_write)
        pg_rows[3] = _row(pg_rows[3]["metric"], raw["read"], "s", "geopandas read_postgis", peer_read)
        rows += pg_rows
    return rows


if __name__ == "__main__":
    import sys

    for r in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(f"{r['metric']:<60} {r['value']:>12} {r['unit']:<11} {r['peer']:<36} {r['ratio']}")
