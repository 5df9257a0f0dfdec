"""Tile benchmark: one screen of tiles at zoom 15 right after a start of ``gridgis serve``, cold vs cached,
GeoJSON vs MVT, gzipped and not, over real HTTP; and the serving process's memory.

Scale ``small`` is the committed sample city (data/geojson), ``city`` the seed-city size (built once
in out/bench/, shared with the viewer benchmark). A screen is 1280×800 px centred on the micro-grids:
the 6×5 tiles of zoom 15 that cover it, for each layer the viewer shows at zoom 15 (and the
micro-grids alone, the densest layer). Each pass starts its own ``gridgis serve`` process:

* *cold, nothing loaded*: pre-rendering off (``GRIDGIS_TILE_PRERENDER_ZOOM=-1``), once the process has
  started (its routing index is in service); the first tile of each layer reads the layer; the
  micro-grids also 6 at a time, as a browser asks;
* *cold tiles after start-up*: pre-rendering on (the default); the screen is asked once the process has
  loaded its layers (its log says ``tiles_prerendered``); zoom-15 tiles are never pre-rendered;
* *cached*: the same screen again, then gzipped.

Peer: the GeoJSON tiles of the same screen measured in the same run; ratio = MVT / GeoJSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

from bench.viewer import SHOWN, _store

ZOOM = 15
SCREEN_PX = (1280, 800)


def screen_tiles(repo, z: int = ZOOM, bounds: tuple[float, float, float, float] | None = None) -> list[tuple[int, int]]:
    """The ``(x, y)`` tiles of zoom ``z`` covering a 1280×800 screen centred on the micro-grids (or on
    ``bounds``, lon/lat)."""
    from gridgis.maps.tiles import tile_for

    minx, miny, maxx, maxy = bounds if bounds is not None else repo.read_layer("micro_grids").total_bounds
    cx, cy = tile_for((minx + maxx) / 2, (miny + maxy) / 2, z)
    nx, ny = SCREEN_PX[0] // 256 + 1, SCREEN_PX[1] // 256 + 1
    return [(cx + dx, cy + dy) for dx in range(-(nx // 2), nx - nx // 2) for dy in range(-(ny // 2), ny - ny // 2)]


def _pass(client, tiles: list[tuple[int, int]], ext: str, encoding: str, layers=SHOWN) -> tuple[float, int, int]:
    """Seconds, bytes on the wire and tile count for every ``layers`` tile of the screen."""
    sent = 0
    n = 0
    start = time.perf_counter()
    for layer in layers:
        for x, y in tiles:
            with client.stream(
                "GET", f"/tiles/{layer}/{ZOOM}/{x}/{y}.{ext}", headers={"Accept-Encoding": encoding}
            ) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"{r.url} answered {r.status_code}")
                sent += sum(len(c) for c in r.iter_raw())
            n += 1
    return time.perf_counter() - start, sent, n


def _parallel(client, tiles: list[tuple[int, int]], ext: str, connections: int = 6) -> float:
    """Seconds for the micro-grid tiles of the screen asked as a browser asks them: 6 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def get(xy: tuple[int, int]) -> None:
        r = client.get(f"/tiles/micro_grids/{ZOOM}/{xy[0]}/{xy[1]}.{ext}")
        if r.status_code != 200:
            raise RuntimeError(f"{r.url} answered {r.status_code}")

    start = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(get, tiles))
    return time.perf_counter() - start


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Server:
    """``gridgis serve`` (one worker) on a free port over ``url``, its log in a file."""

    def __init__(self, url: str, prerender: int, env: dict[str, str] | None = None) -> None:
        from bench.viewer import OUT
        from gridgis.api.app import create_app  # noqa: F401 - fail here, not in the child, when broken

        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        OUT.mkdir(parents=True, exist_ok=True)
        self.log = OUT / f"tiles-serve-{self.port}.log"
        env = dict(os.environ, GRIDGIS_TILE_PRERENDER_ZOOM=str(prerender), GRIDGIS_LOG_LEVEL="INFO", **(env or {}))
        gridgis = Path(sys.executable).with_name("gridgis")
        cmd = [str(gridgis), "serve", "--port", str(self.port), "--database-url", url]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"gridgis serve did not start; see {self.log}")

    def wait_for(self, text: str, timeout: float = 600) -> float:
        start = time.monotonic()
        while text not in self.log.read_text(errors="replace"):
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"{text!r} never appeared in {self.log}")
            time.sleep(0.2)
        return time.monotonic() - start

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def cold_and_cached(url: str, tiles: list[tuple[int, int]], ext: str, env: dict[str, str] | None = None) -> dict:
    """One screen of every shown layer from a fresh ``gridgis serve`` (pre-rendering off) once its routing
    index is in service: cold, cached, cached gzipped (seconds), its bytes plain and gzipped, the
    requests, the process's RSS (MB)."""
    import httpx

    res: dict[str, float] = {}
    with _Server(url, prerender=-1, env=env) as server, httpx.Client(base_url=server.url, timeout=600) as client:
        server.wait_for('"routing_index_swapped"')
        res["cold_s"], res["bytes"], res["requests"] = _pass(client, tiles, ext, "identity")
        res["cached_s"], _, _ = _pass(client, tiles, ext, "identity")
        res["cached_gz_s"], res["gz"], _ = _pass(client, tiles, ext, "gzip")
        res["rss_mb"] = _rss_mb(server.proc.pid)
    return res


def run(scale: str = "small") -> list[dict]:
    import httpx

    repo, _ = _store(scale)
    tiles = screen_tiles(repo)
    results: dict[str, dict[str, float]] = {}
    for ext in ("geojson", "mvt"):
        res: dict[str, float] = {}
        with _Server(repo.url, prerender=-1) as server, httpx.Client(base_url=server.url, timeout=600) as client:
            server.wait_for('"routing_index_swapped"')  # started: its routing index is in service
            res["micro_cold_s"], _, _ = _pass(client, tiles, ext, "identity", ("micro_grids",))
            res["micro_cached_6_s"] = _parallel(client, tiles, ext)
        with _Server(repo.url, prerender=-1) as server, httpx.Client(base_url=server.url, timeout=600) as client:
            server.wait_for('"routing_index_swapped"')
            res["micro_cold_6_s"] = _parallel(client, tiles, ext)
        screen = cold_and_cached(repo.url, tiles, ext)
        n = int(screen.pop("requests"))
        res.update(screen)
        with _Server(repo.url, prerender=12) as server, httpx.Client(base_url=server.url, timeout=600) as client:
            res["warmup_s"] = server.wait_for('"tiles_prerendered"')
            res["started_cold_s"], _, _ = _pass(client, tiles, ext, "identity")
            res["started_rss_mb"] = _rss_mb(server.proc.pid)
        results[ext] = res
    counts = repo.counts()
    rows = [
        {"metric": "micro-grids in the store", "value": f"{counts['micro_grids']:,}", "unit": ""},
        {
            "metric": f"requests for one screen (z{ZOOM}, {len(SHOWN)} layers × {len(tiles)} tiles)",
            "value": n,
            "unit": "",
        },
    ]
    labels = {
        "micro_cold_s": (f"micro-grids screen ({len(tiles)} tiles), cold, nothing loaded", "s"),
        "micro_cold_6_s": (f"micro-grids screen ({len(tiles)} tiles, 6 at a time), cold, nothing loaded", "s"),
        "micro_cached_6_s": (f"micro-grids screen ({len(tiles)} tiles, 6 at a time), cached", "s"),
        "cold_s": ("screen time, cold, nothing loaded", "s"),
        "warmup_s": ("start-up warm-up (layers loaded, z ≤ 12 rendered), in the background", "s"),
        "started_cold_s": ("screen time, cold tiles after the start-up warm-up", "s"),
        "cached_s": ("screen time, cached", "s"),
        "cached_gz_s": ("screen time, cached, gzipped", "s"),
        "bytes": ("screen bytes, not gzipped", "B"),
        "gz": ("screen bytes, gzipped", "B"),
        "rss_mb": ("serving process memory after the screen (RSS)", "MB"),
        "started_rss_mb": ("serving process memory after warm-up and the screen (RSS)", "MB"),
    }
    for key, (label, unit) in labels.items():
        g, m = results["geojson"][key], results["mvt"][key]
        if unit in ("s", "MB"):
            g, m = round(g, 3 if unit == "s" else 1), round(m, 3 if unit == "s" else 1)
        else:
            g, m = int(g), int(m)
        rows.append({"metric": f"GeoJSON {label}", "value": g, "unit": unit})
        rows.append(
            {
                "metric": f"MVT {label}",
                "value": m,
                "unit": unit,
                "peer": f"GeoJSON {g:,}",
                "ratio": round(m / g, 3) if g else "",
            }
        )
    for r in rows:
        r["benchmark"] = f"tiles/{scale}"
        r.setdefault("peer", "")
        r.setdefault("ratio", "")
    return rows
