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


def _smaps(pid: int) -> dict[str, float]:
    """Resident, proportional (shared pages split among the processes mapping them) and private
    memory of a process, MiB (/proc/<pid>/smaps_rollup)."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1]) / 1024
    private = fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0)
    return {"rss": round(fields.get("Rss", 0.0)), "pss": round(fields.get("Pss", 0.0)), "private": round(private)}


def _workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes under ``pid`` (multiprocessing children, not the resource tracker)."""
    import subprocess

    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], check=False, capture_output=True, text=True
    ).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "resource_tracker" not in line and line.strip()]


def serve_memory(database_url: str, workers: int = 2, batches: int = 3, timeout: float = 300.0) -> dict:
    """Start ``gridgis serve --workers N`` on a store, wait until every worker has its routing index,
    read each worker's memory; then route ``batches`` × 50,000 points through every worker and read again.

    Returns per worker and in total: RSS, PSS and private MiB after start and after routing."""
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = Path(tempfile.mkdtemp()) / "serve.log"
    env = {**os.environ, "GRIDGIS_DATABASE_URL": database_url, "GRIDGIS_TILE_PRERENDER_ZOOM": "-1"}
    cmd = [sys.executable, "-m", "gridgis.cli", "serve", "--port", str(port), "--workers", str(workers)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)
    t0 = time.perf_counter()
    try:
        while log.read_text(errors="replace").count("routing index for generation") < workers:
            if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"gridgis serve did not build its indexes; see {log}")
            time.sleep(0.5)
        ready_s = time.perf_counter() - t0
        time.sleep(3.0)
        pids = _workers_of(proc.pid) if workers > 1 else [proc.pid]
        after_start = [_smaps(p) for p in pids]
        rng = np.random.default_rng(3)
        bounds = (121.45, 31.15, 121.60, 31.27)
        with contextlib.nullcontext(httpx) as client:  # a new connection per request: any worker answers
            grids = client.get(
                f"http://127.0.0.1:{port}/collections/grids/items", params={"limit": 1}, timeout=60.0
            ).json()
            if grids.get("features"):
                xy = np.asarray(shapely.get_coordinates(shapely.geometry.shape(grids["features"][0]["geometry"])))
                bounds = (xy[:, 0].min() - 0.05, xy[:, 1].min() - 0.05, xy[:, 0].max() + 0.05, xy[:, 1].max() + 0.05)
            for _ in range(batches * workers * 2):  # enough that every worker answers a few
                lon = rng.uniform(bounds[0], bounds[2], 50_000)
                lat = rng.uniform(bounds[1], bounds[3], 50_000)
                points = [{"lon": float(a), "lat": float(b)} for a, b in zip(lon, lat)]
                client.post(f"http://127.0.0.1:{port}/route", json={"points": points}, timeout=120.0)
        after_routing = [_smaps(p) for p in pids]
    finally:
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def total(rows: list[dict], key: str) -> int:
        return sum(r[key] for r in rows)

    return {
        "workers": workers,
        "ready_s": round(ready_s, 1),
        "after_start": after_start,
        "after_routing": after_routing,
        "total_after_start": {k: total(after_start, k) for k in ("rss", "pss", "private")},
        "total_after_routing": {k: total(after_routing, k) for k in ("rss", "pss", "private")},
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


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
    parser.add_argument(
        "--serve-memory",
        metavar="DATABASE_URL",
        help="instead: memory of `gridgis serve` workers over this store (e.g. sqlite:///city.db from "
        "`gridgis sample-city --scale city` imported), after start and after routing",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if args.serve_memory:
        for n in args.workers:
            print(serve_memory(args.serve_memory, n), flush=True)
        return
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
