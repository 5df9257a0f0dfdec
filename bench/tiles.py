"""Tile benchmark: one screen of tiles at zoom 15, cold (fresh server) vs cached, GeoJSON vs MVT,
gzipped and not, over real HTTP.

Scale ``small`` is the committed sample city (data/geojson), ``city`` the seed-city size (built once
in out/bench/, shared with the viewer benchmark). A screen is 1280×800 px centred on the micro-grids:
the 6×5 tiles of zoom 15 that cover it, for each layer the viewer shows at zoom 15. Each format gets
its own fresh server (empty tile cache) for the cold pass; the cached pass asks the same tiles again.

Peer: the GeoJSON tiles of the same screen measured in the same run; ratio = MVT / GeoJSON.
"""

from __future__ import annotations

import time

from bench.viewer import SHOWN, _serve, _store

ZOOM = 15
SCREEN_PX = (1280, 800)


def screen_tiles(repo, z: int = ZOOM) -> list[tuple[int, int]]:
    """The ``(x, y)`` tiles of zoom ``z`` covering a 1280×800 screen centred on the micro-grids."""
    from gridgis.maps.tiles import tile_for

    minx, miny, maxx, maxy = repo.read_layer("micro_grids").total_bounds
    cx, cy = tile_for((minx + maxx) / 2, (miny + maxy) / 2, z)
    nx, ny = SCREEN_PX[0] // 256 + 1, SCREEN_PX[1] // 256 + 1
    return [(cx + dx, cy + dy) for dx in range(-(nx // 2), nx - nx // 2) for dy in range(-(ny // 2), ny - ny // 2)]


def _pass(client, tiles: list[tuple[int, int]], ext: str, encoding: str) -> tuple[float, int, int]:
    """Seconds, bytes on the wire and tile count for every shown layer's tiles of the screen."""
    sent = 0
    n = 0
    start = time.perf_counter()
    for layer in SHOWN:
        for x, y in tiles:
            with client.stream(
                "GET", f"/tiles/{layer}/{ZOOM}/{x}/{y}.{ext}", headers={"Accept-Encoding": encoding}
            ) as r:
                if r.status_code != 200:
                    raise RuntimeError(f"{r.url} answered {r.status_code}")
                sent += sum(len(c) for c in r.iter_raw())
            n += 1
    return time.perf_counter() - start, sent, n


def run(scale: str = "small") -> list[dict]:
    import httpx

    repo, _ = _store(scale)
    tiles = screen_tiles(repo)
    results: dict[str, dict[str, float]] = {}
    for ext in ("geojson", "mvt"):
        server, thread, url = _serve(repo)  # a fresh app: an empty tile cache
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                cold_s, cold_b, n = _pass(client, tiles, ext, "identity")
                cached_s, _, _ = _pass(client, tiles, ext, "identity")
                cached_gz_s, gz_b, _ = _pass(client, tiles, ext, "gzip")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        results[ext] = {"cold_s": cold_s, "cached_s": cached_s, "cached_gz_s": cached_gz_s, "bytes": cold_b, "gz": gz_b}
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
        "cold_s": ("screen time, cold (fresh server)", "s"),
        "cached_s": ("screen time, cached", "s"),
        "cached_gz_s": ("screen time, cached, gzipped", "s"),
        "bytes": ("screen bytes, not gzipped", "B"),
        "gz": ("screen bytes, gzipped", "B"),
    }
    for key, (label, unit) in labels.items():
        g, m = results["geojson"][key], results["mvt"][key]
        if unit == "s":
            g, m = round(g, 3), round(m, 3)
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
