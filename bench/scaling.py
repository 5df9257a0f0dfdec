"""How far one machine goes: routing at K× the seed city (the scaling page's measured simulation).

The city-scale sample (≈37,000 micro-grids) is replicated K times side by side (each copy
shifted east and given its own county code), as a province of K cities would be. For each K it
measures the routing index build time, the process memory it adds, the batch routing
throughput over 1,000,000 points and single-lookup latency. Run:
``python -m bench.scaling --copies 1 4 16``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import resource
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.errors import GridGISError


def _rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def replicate(city: dict[str, gpd.GeoDataFrame], copies: int) -> dict[str, gpd.GeoDataFrame]:
    """``copies`` copies of the routing layers, side by side, with distinct county codes."""
    minx, _, maxx, _ = city["grids"].total_bounds
    width = (maxx - minx) * 1.02
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in ("streets", "communities", "grids", "micro_grids", "compounds", "buildings"):
        frames = []
        for k in range(copies):
            f = city[layer].copy()
            county = f"{310115 + k * 100:06d}"
            for col in [c for c in f.columns if c == "code" or c.endswith("_code")]:
                f[col] = f[col].map(lambda v, c=county: c + v[6:] if isinstance(v, str) and len(v) >= 12 else v)
            f.geometry = shapely.transform(f.geometry.values, lambda xy, dx=k * width: xy + [dx, 0.0])
            frames.append(f)
        out[layer] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=city[layer].crs)
    return out


def measure(city: dict[str, gpd.GeoDataFrame], copies: int, points: int = 1_000_000, seed: int = 5) -> dict:
    from gridgis.routing import RoutingIndex

    big = replicate(city, copies)
    gc.collect()
    before = _rss_mb()
    t0 = time.perf_counter()
    index = RoutingIndex.build(big)
    build_s = time.perf_counter() - t0
    gc.collect()
    index_mb = _rss_mb() - before
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = big["grids"].total_bounds
    lon = rng.uniform(minx, maxx, points)
    lat = rng.uniform(miny, maxy, points)
    t0 = time.perf_counter()
    routed = index.route_many(lon, lat)
    batch_s = time.perf_counter() - t0
    inside = int(routed["micro_grid_code"].notna().sum()) if "micro_grid_code" in routed else points
    lat_us = []
    for i in range(20_000):
        t = time.perf_counter()
        with contextlib.suppress(GridGISError):  # points outside the service area count too
            index.route(lon[i], lat[i])
        lat_us.append((time.perf_counter() - t) * 1e6)
    return {
        "copies": copies,
        "micro_grids": len(big["micro_grids"]),
        "compounds": len(big["compounds"]),
        "buildings": len(big["buildings"]),
        "build_s": round(build_s, 2),
        "index_mb": round(index_mb),
        "batch_points_per_s": round(points / batch_s),
        "routed_inside": inside,
        "single_p50_us": round(float(np.percentile(lat_us, 50)), 1),
        "single_p99_us": round(float(np.percentile(lat_us, 99)), 1),
        "rss_mb": round(_rss_mb()),
    }


def run(scale: str = "small", copies: tuple[int, ...] | None = None) -> list[dict]:
    """Rows for ``python -m bench``: small runs K=1,2; ``city`` runs K=1,4,16."""
    from gridgis.sample import generate_city

    city = generate_city(seed=0, scale="city", tickets=0)
    copies = copies or ((1, 2) if scale == "small" else (1, 4, 16))
    rows = []
    for k in copies:
        m = measure(city, k)
        tag = f"{m['micro_grids']:,} micro-grids"
        rows += [
            {
                "benchmark": "scaling",
                "metric": f"index build ({tag})",
                "value": m["build_s"],
                "unit": "s",
                "peer": "",
                "ratio": None,
            },
            {
                "benchmark": "scaling",
                "metric": f"index memory ({tag})",
                "value": m["index_mb"],
                "unit": "MiB",
                "peer": "",
                "ratio": None,
            },
            {
                "benchmark": "scaling",
                "metric": f"batch routing ({tag})",
                "value": m["batch_points_per_s"],
                "unit": "points/s",
                "peer": "",
                "ratio": None,
            },
            {
                "benchmark": "scaling",
                "metric": f"single p99 ({tag})",
                "value": m["single_p99_us"],
                "unit": "µs",
                "peer": "",
                "ratio": None,
            },
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    from gridgis.sample import generate_city

    t0 = time.perf_counter()
    city = generate_city(seed=0, scale="city", tickets=0)
    print(
        f"city-scale sample generated in {time.perf_counter() - t0:.1f} s ({len(city['micro_grids']):,} micro-grids)",
        flush=True,
    )
    for k in args.copies:
        print(measure(city, k), flush=True)


if __name__ == "__main__":
    main()
