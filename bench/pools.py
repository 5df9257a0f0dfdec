"""Routing pools per county behind nginx, and the Dask batch rate per worker (``python -m bench --only pools``).

A province sample (copies of a lattice city as distinct counties) in a SQLite store; for 1, 2 and 4
``gridgis serve --counties`` pools (one worker each) behind the nginx front that ``gridgis deploy nginx``
writes, ``wrk`` cycles ``GET /route`` over points of every county: through the front's county look-up,
with ``?county=`` (no look-up), and straight to one pool holding every county (no nginx) as the peer.
Then ``route_batch`` on a Dask LocalCluster of 1 and 2 workers (points/s per worker).

Everything runs on this one machine (2 shared cores here): pools, nginx, wrk and Dask workers compete
for the same cores, so more pools cannot add throughput here; the figures say what the front costs
and that it scales no worse, not what N machines would give.

``python -m bench.pools [--counties 4] [--grids 30] [--seconds 8]``
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SCALES = {"small": {"counties": 4, "grids": 24, "seconds": 6.0, "points": 400_000}}
SCALES["city"] = {"counties": 4, "grids": 60, "seconds": 10.0, "points": 2_000_000}


def _wrk(url: str, paths: list[str], seconds: float, connections: int = 16) -> dict:
    if shutil.which("wrk") is None:
        return {"error": "wrk is not installed (apt-get install wrk)"}
    quoted = ",".join(f'"{p}"' for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f"local paths = {{{quoted}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
        )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency", "-s", script.name, url],
        check=False,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": float(rate.group(1)) if rate else float("nan"),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def _paths(points: list[tuple[float, float, str]], named: bool) -> list[str]:
    out = []
    for lon, lat, county in points:
        extra = f"&county={county}" if named else ""
        out.append(f"/route?lon={lon:.7f}&lat={lat:.7f}{extra}")
    return out


def _row(metric: str, value, unit: str, peer: str = "", ratio=None) -> dict:
    return {"benchmark": "pools", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}


def run(scale: str = "small", counties: int | None = None, grids: int | None = None) -> list[dict]:
    from tests.deploy.front import province_store

    cfg = dict(SCALES.get(scale, SCALES["small"]))
    counties = counties or int(cfg["counties"])
    grids = grids or int(cfg["grids"])
    seconds = float(cfg["seconds"])
    folder = Path(tempfile.mkdtemp(prefix="bench_pools_"))
    url, frames = province_store(folder / "province.db", counties=counties, grids=grids)
    from tests.deploy.front import county_points

    points = county_points(frames, per_county=max(50, 600 // counties))
    rows = [
        _row(
            "province sample",
            f"{counties} counties × {grids}×{grids} grids",
            "",
            f"{len(frames['micro_grids'])} micro-grids",
        ),
    ]
    rows += routing_rows(url, points, seconds, folder)
    rows += _dask_rows(url, frames, int(cfg["points"]))
    rows += _files_rows(url, frames, int(cfg["points"]), folder)
    return rows


def routing_rows(
    url: str,
    points: list[tuple[float, float, str]],
    seconds: float,
    folder: Path,
    pool_counts: tuple[int, ...] = (1, 2, 4),
    benchmark: str = "pools",
    index_timeout: float = 300.0,
) -> list[dict]:
    """For 1, 2 and 4 ``gridgis serve --counties`` pools over the store ``url`` (each county on one pool)
    behind the generated nginx front, ``wrk`` over ``points`` (lon, lat, county) through the county
    look-up and with ``?county=``; the peer: wrk straight at the one pool holding every county."""
    from tests.deploy.front import NginxFront, start_pools

    codes = sorted({c for _, _, c in points})
    rows: list[dict] = []
    results: dict[str, dict] = {}
    for n_pools in pool_counts:
        holds = [codes[k::n_pools] for k in range(n_pools)]  # each county on exactly one pool
        pools = start_pools(url, holds, folder, index_timeout=index_timeout)
        try:
            spec = [f"{c}={pools[k].url.removeprefix('http://')}" for k, h in enumerate(holds) for c in h]
            if n_pools == 1:  # the peer: the one pool straight, no nginx
                _wrk(pools[0].url, _paths(points, False), 2)  # warm-up
                results["direct"] = _wrk(pools[0].url, _paths(points, False), seconds)
            with NginxFront(folder / f"front{n_pools}", spec, workers=1) as front:
                _wrk(front.url, _paths(points, False), 2)  # warm-up (every pool's index, keep-alive connections)
                results[f"{n_pools} look-up"] = _wrk(front.url, _paths(points, False), seconds)
                results[f"{n_pools} named"] = _wrk(front.url, _paths(points, True), seconds)
        finally:
            for p in pools:
                p.stop()
    base = results.get("direct", {}).get("rate")
    for key, r in results.items():
        if "error" in r:
            rows.append(_row(f"route {key}", r["error"], ""))
            continue
        label = (
            "one pool, no nginx (peer)"
            if key == "direct"
            else f"{key.split()[0]} pool(s) via nginx, "
            + ("county look-up" if key.endswith("look-up") else "?county= named")
        )
        ratio = round(r["rate"] / base, 2) if base else None
        rows.append(_row(f"{label}: requests/s", round(r["rate"], 1), "req/s", "wrk -t2 -c16", ratio))
        rows.append(_row(f"{label}: p50 / p99", f"{r['p50']:.2f} / {r['p99']:.2f}", "ms"))
        if r["non2xx"] or r["socket_errors"]:
            rows.append(
                _row(
                    f"{label}: non-2xx (points outside: 422) / socket errors",
                    f"{r['non2xx']} / {r['socket_errors']}",
                    "",
                )
            )
    for row in rows:
        row["benchmark"] = benchmark
    return rows


def _dask_rows(url: str, frames: dict, n_points: int) -> list[dict]:
    from gridgis.scale.batch import dask_client, route_batch

    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    lon = rng.uniform(minx, maxx, n_points)
    lat = rng.uniform(miny, maxy, n_points)
    rows = []
    single = None
    for workers in (1, 2):
        with dask_client(local=workers) as client:
            t0 = time.perf_counter()
            route_batch(client, url, lon, lat, chunk=max(50_000, n_points // 16))
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            route_batch(client, url, lon, lat, chunk=max(50_000, n_points // 16))
            warm = time.perf_counter() - t0
        rate = n_points / warm
        single = single or rate
        rows.append(
            _row(
                f"Dask route_batch, {workers} worker(s): points/s per worker (warm)",
                round(rate / workers),
                "points/s",
                f"{n_points:,} points; cold (index builds) {cold:.1f} s, warm {warm:.1f} s",
                round(rate / single, 2),
            )
        )
    return rows


def _files_rows(url: str, frames: dict, n_points: int, folder: Path, files: int = 4) -> list[dict]:
    """``route_batch``'s file variant: the points in ``files`` CSV files that only the workers read."""
    import pandas as pd

    from gridgis.scale.batch import dask_client, route_files

    rng = np.random.default_rng(13)
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    paths = []
    for k in range(files):
        n = n_points // files
        path = folder / f"points-{k}.csv"
        pd.DataFrame({"lon": rng.uniform(minx, maxx, n), "lat": rng.uniform(miny, maxy, n)}).to_csv(path, index=False)
        paths.append(str(path))
    rows = []
    single = None
    for workers in (1, 2):
        with dask_client(local=workers) as client:
            t0 = time.perf_counter()
            route_files(client, url, paths, str(folder / f"out{workers}"), str(folder / f"work{workers}a"), "wgs84")
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            route_files(client, url, paths, str(folder / f"out{workers}"), str(folder / f"work{workers}b"), "wgs84")
            warm = time.perf_counter() - t0
        rate = n_points / warm
        single = single or rate
        rows.append(
            _row(
                f"Dask route_files (CSV in, CSV out), {workers} worker(s): points/s per worker (warm)",
                round(rate / workers),
                "points/s",
                f"{n_points:,} points in {files} files; cold {cold:.1f} s, warm {warm:.1f} s",
                round(rate / single, 2),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--counties", type=int, default=None)
    parser.add_argument("--grids", type=int, default=None)
    args = parser.parse_args()
    for row in run(args.scale, args.counties, args.grids):
        print(row)


if __name__ == "__main__":
    main()
