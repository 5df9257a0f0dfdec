"""HTTP load: concurrent routing lookups and ticket creation against a real ``gridgis serve``.

``run(scale)`` starts the server (2 worker processes, SQLite store with the sample city),
drives it from client threads for a fixed time and reports requests/s and latency
percentiles per kind of request. :func:`drive` is shared with the load test in tests/ops.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np


@dataclass
class LoadResult:
    """What one load run measured: latencies (ms) and status codes per kind of request."""

    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return len(self.latencies.get(kind, []))

    def percentile(self, kind: str, q: float) -> float:
        values = self.latencies.get(kind) or [float("nan")]
        return float(np.percentile(values, q))

    def rate(self, kind: str) -> float:
        return self.count(kind) / self.seconds


def drive(
    url: str,
    points: list[tuple[float, float]],
    seconds: float = 5.0,
    threads: int = 8,
    ticket_share: float = 0.1,
    token: str | None = None,
    seed: int = 1,
) -> LoadResult:
    """Send routing GETs and ticket POSTs from ``threads`` clients for ``seconds``; never raises."""
    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def client_loop(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        local: dict[str, list[float]] = {"route": [], "ticket": []}
        statuses: dict[str, dict[int, int]] = {"route": {}, "ticket": {}}
        errors: list[str] = []
        with httpx.Client(base_url=url, timeout=30.0, headers=headers) as client:
            while time.monotonic() < stop_at:
                lon, lat = points[rng.randrange(len(points))]
                kind = "ticket" if rng.random() < ticket_share else "route"
                t0 = time.perf_counter()
                try:
                    if kind == "route":
                        r = client.get("/route", params={"lon": lon, "lat": lat})
                    else:
                        r = client.post(
                            "/tickets",
                            json={
                                "lon": lon,
                                "lat": lat,
                                "matter_code": "M20",
                                "description": "负载测试",
                                "channel": "12345热线",
                            },
                        )
                except httpx.HTTPError as exc:
                    errors.append(f"{kind}: {exc!r}")
                    continue
                local[kind].append((time.perf_counter() - t0) * 1000)
                statuses[kind][r.status_code] = statuses[kind].get(r.status_code, 0) + 1
                if r.status_code >= 400:
                    errors.append(f"{kind}: HTTP {r.status_code} {r.text[:200]}")
        with lock:
            for kind, values in local.items():
                result.latencies.setdefault(kind, []).extend(values)
                merged = result.statuses.setdefault(kind, {})
                for code, n in statuses[kind].items():
                    merged[code] = merged.get(code, 0) + n
            result.errors.extend(errors)

    workers = [threading.Thread(target=client_loop, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return result


def points_in_grids(grids, n: int, seed: int = 3) -> list[tuple[float, float]]:
    """``n`` random points inside the given grid polygons (EPSG:4326)."""
    import shapely

    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    geoms = grids.geometry.values
    while len(out) < n:
        g = geoms[rng.integers(len(geoms))]
        minx, miny, maxx, maxy = g.bounds
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(g, x, y):
            out.append((float(x), float(y)))
    return out


def run(scale: str = "small", seconds: float = 10.0, threads: int = 8, workers: int = 2) -> list[dict]:
    """Load a server holding the sample city; rows of requests/s and latency percentiles."""
    import tempfile
    from pathlib import Path

    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.io import read_city
    from gridgis.storage import Repository
    from tests.ops.server import ServerProcess

    root = Path(__file__).resolve().parents[1]
    db = Path(tempfile.mkdtemp()) / "load.db"
    repo = Repository(f"sqlite:///{db}")
    repo.create_schema()
    city = {k: v for k, v in read_city(root / "data" / "geojson").items() if k != "tickets"}
    repo.write_city(city, author="bench", message="sample city")
    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("bench", "reporter", ["*"])
    points = points_in_grids(city["grids"], 2000)
    repo.dispose()
    server = ServerProcess(f"sqlite:///{db}", workers=workers).start()
    try:
        drive(server.url, points, seconds=2.0, threads=2, token=token)  # warm every worker's index
        result = drive(server.url, points, seconds=seconds, threads=threads, token=token)
        wrk_rows = _wrk(server.url, points, seconds)
    finally:
        server.stop()
    rows = []
    for kind in ("route", "ticket"):
        rows += [
            {
                "benchmark": f"http_{kind}",
                "metric": "requests/s",
                "value": round(result.rate(kind), 1),
                "unit": "req/s",
                "peer": "",
                "ratio": None,
            },
            {
                "benchmark": f"http_{kind}",
                "metric": "p50",
                "value": round(result.percentile(kind, 50), 2),
                "unit": "ms",
                "peer": "",
                "ratio": None,
            },
            {
                "benchmark": f"http_{kind}",
                "metric": "p99",
                "value": round(result.percentile(kind, 99), 2),
                "unit": "ms",
                "peer": "",
                "ratio": None,
            },
        ]
    rows += wrk_rows
    rows.append(
        {
            "benchmark": "http_load",
            "metric": "errors",
            "value": len(result.errors),
            "unit": "count",
            "peer": f"{threads} client threads, {workers} workers, {seconds:.0f} s",
            "ratio": None,
        }
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)


def _wrk(url: str, points: list[tuple[float, float]], seconds: float) -> list[dict]:
    """GET /route from wrk (a C load generator; Debian package ``wrk``), cycling through the points with
    a Lua request generator: the server's capacity without a Python client's own limits."""
    import re
    import shutil
    import subprocess
    import tempfile

    if shutil.which("wrk") is None:
        return [
            {
                "benchmark": "http_route_wrk",
                "metric": "skipped",
                "value": "wrk is not installed (apt-get install wrk)",
                "unit": "",
                "peer": "",
                "ratio": None,
            }
        ]
    paths = ",".join(f'"/route?lon={lon:.7f}&lat={lat:.7f}"' for lon, lat in points[:500])
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f"local paths = {{{paths}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
        )
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{max(int(seconds), 1)}s", "--latency", "-s", script.name, url],
        check=False,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    peer = "wrk -t2 -c16, GET /route over 500 points"
    return [
        {
            "benchmark": "http_route_wrk",
            "metric": "requests/s",
            "value": float(rate.group(1)) if rate else None,
            "unit": "req/s",
            "peer": peer,
            "ratio": None,
        },
        {"benchmark": "http_route_wrk", "metric": "p50", "value": ms("50%"), "unit": "ms", "peer": peer, "ratio": None},
        {"benchmark": "http_route_wrk", "metric": "p99", "value": ms("99%"), "unit": "ms", "peer": peer, "ratio": None},
        {
            "benchmark": "http_route_wrk",
            "metric": "non-2xx responses",
            "value": int(errors.group(1)) if errors else 0,
            "unit": "count",
            "peer": peer,
            "ratio": None,
        },
    ]
