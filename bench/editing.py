"""Editing benchmarks: validating a boundary move, and locked saves over real HTTP.

A synthetic community of ``n`` column grids (``small``: 20, ``city``: 200) near Beijing.

- ``validate move-boundary``: :func:`gridgis.editing.validate.validate_edits` of a two-grid move
  (parent, siblings, gap, children checks). Peer: ``shapely.coverage_is_valid`` + a union/difference
  gap test over the whole community (what a naive whole-coverage check costs).
- ``PUT with version (HTTP)``: median latency of a validated, locked save through uvicorn on
  SQLite. Peer: a GET of the same item.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import geopandas as gpd
import shapely

from gridgis.editing.operations import move_boundary
from gridgis.editing.validate import validate_edits
from gridgis.layers import get_spec, normalize_frame

SIZES = {"small": 20, "city": 200}
COMMUNITY = "110105001001"


def community_city(n: int) -> dict[str, gpd.GeoDataFrame]:
    """One street, one community, ``n`` column grids filling it."""
    w = 0.001
    x0, y0, y1 = 116.40, 39.90, 39.91
    street = normalize_frame(
        get_spec("streets"),
        gpd.GeoDataFrame(
            {"code": ["110105001000"], "name": ["街道"]},
            geometry=[shapely.box(x0, y0, x0 + n * w, y1)],
            crs="EPSG:4326",
        ),
    )
    comm = normalize_frame(
        get_spec("communities"),
        gpd.GeoDataFrame(
            {"code": [COMMUNITY], "name": ["社区"], "street_code": ["110105001000"]},
            geometry=[shapely.box(x0, y0, x0 + n * w, y1)],
            crs="EPSG:4326",
        ),
    )
    grids = normalize_frame(
        get_spec("grids"),
        gpd.GeoDataFrame(
            {
                "code": [f"{COMMUNITY}{i + 1:03d}" for i in range(n)],
                "name": [f"第{i + 1}网格" for i in range(n)],
                "community_code": [COMMUNITY] * n,
                "households": [400] * n,
            },
            geometry=[shapely.box(x0 + i * w, y0, x0 + (i + 1) * w, y1) for i in range(n)],
            crs="EPSG:4326",
        ),
    )
    return {"streets": street, "communities": comm, "grids": grids}


def _median(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _row(metric: str, value: float, peer: str, peer_value: float) -> dict:
    return {
        "benchmark": "editing",
        "metric": metric,
        "value": round(value * 1000, 2),
        "unit": "ms",
        "peer": f"{peer} {peer_value * 1000:.3g} ms",
        "ratio": round(value / peer_value, 2) if peer_value else "",
    }


def run(scale: str = "small") -> list[dict]:
    n = SIZES.get(scale, SIZES["small"])
    city = community_city(n)
    a, b = f"{COMMUNITY}001", f"{COMMUNITY}002"
    edits = move_boundary(city["grids"], a, b, shapely.box(116.40, 39.90, 116.4015, 39.91))
    ours = _median(lambda: validate_edits(city, edits))
    parent = city["communities"].geometry.iloc[0]

    def naive() -> None:
        geoms = city["grids"].geometry.values
        shapely.coverage_is_valid(geoms)
        _ = shapely.difference(parent, shapely.union_all(geoms)).area

    rows = [_row(f"validate move-boundary ({n} grids)", ours, "coverage_is_valid+gap", _median(naive))]
    rows.append(_http_rows(city, a))
    return rows


def _http_rows(city: dict[str, gpd.GeoDataFrame], code: str) -> dict:
    import httpx

    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.editing.testing import live_api
    from gridgis.storage import Repository

    path = tempfile.mkdtemp(prefix="bench_editing_") + "/g.db"
    repo = Repository(f"sqlite:///{path}")
    repo.create_schema()
    repo.write_city(city, author="bench", message="bench")
    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("bench", "planner", ["110105001000"])
    with live_api(repo) as base, httpx.Client(base_url=base, timeout=60) as client:
        url = f"/collections/grids/items/{code}"
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/geo+json"}

        def put() -> None:
            feat = client.get(url).json()
            feat["properties"]["population"] = (feat["properties"]["population"] or 0) + 1
            assert client.put(url, json=feat, headers=headers).status_code == 200

        get_s = _median(lambda: client.get(url))
        put_s = _median(put) - get_s
    repo.dispose()
    return _row("PUT with version (HTTP, SQLite)", put_s, "GET item", get_s)


if __name__ == "__main__":
    for r in run():
        print(r)
