"""Viewer benchmark: time to first render of /map in headless chromium, and the bytes of the first view.

Scale ``small`` uses the committed sample city (data/geojson); ``city`` generates the seed-city
size (~37,000 micro-grids) once and keeps the store in out/bench/. A real uvicorn serves the
app on a free localhost port; Debian's chromium (/usr/bin/chromium) loads the page.

Peer: the same layers sent as one GeoJSON document ("one huge page"); ratio = first-view bytes
divided by that document's bytes.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOWN = ("streets", "communities", "grids", "micro_grids", "compounds", "stations")


def _city(scale: str):
    from gridgis.io import read_city

    if scale == "small" and (ROOT / "data" / "geojson" / "grids.geojson").exists():
        return read_city(ROOT / "data" / "geojson")
    from gridgis.sample import generate_city

    return generate_city(scale=scale, tickets=0)


def _store(scale: str):
    """A SQLite store holding the ``scale`` city (built once, reused)."""
    from gridgis.storage import Repository

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"viewer-{scale}.db"
    repo = Repository(f"sqlite:///{path}")
    if path.exists() and repo.current_generation() is not None:
        return repo, None
    repo.create_schema()
    city = {k: v for k, v in _city(scale).items() if k != "tickets"}
    repo.write_city(city, author="bench", message=f"{scale} city for the viewer benchmark")
    return repo, city


def _serve(repo):
    import uvicorn

    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(get_settings(database_url=repo.url), repo), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _load(browser, url: str) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sizes: list[int] = []
    page.on("requestfinished", lambda req: sizes.append(req.sizes()["responseBodySize"]))
    t0 = time.perf_counter()
    page.goto(f"{url}/map")
    page.wait_for_function("window.gridgisViewer && window.gridgisViewer.firstRender !== null", timeout=600_000)
    wall = time.perf_counter() - t0
    first = page.evaluate("window.gridgisViewer.firstRender")
    first_bytes = sum(s for s in sizes if s > 0)
    info = page.evaluate(
        "({tiles: window.gridgisViewer.tiles, counts: window.gridgisViewer.counts(),"
        " zoom: window.gridgisViewer.map.getZoom()})"
    )
    # pan half a screen east and wait until the new tiles are drawn
    t1 = time.perf_counter()
    page.evaluate("() => { window.gridgisViewer.map.panBy([640, 0], {animate: false}); }")
    page.wait_for_function("window.gridgisViewer.pending === 0", timeout=600_000)
    pan = time.perf_counter() - t1
    # zoom in to street level (16: micro-grids, compounds, stations) at the centre and wait until drawn
    t2 = time.perf_counter()
    page.evaluate(
        "() => { const b = window.gridgisViewer.meta.bounds;"
        " window.gridgisViewer.map.setView([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], 16, {animate: false}); }"
    )
    page.wait_for_function("window.gridgisViewer.zoom === 16 && window.gridgisViewer.pending === 0", timeout=600_000)
    deep = time.perf_counter() - t2
    deep_counts = page.evaluate("window.gridgisViewer.counts()")
    page.close()
    return {
        "first_render_ms": first,
        "wall_s": wall,
        "bytes": first_bytes,
        "pan_s": pan,
        "deep_s": deep,
        "deep_features": sum(deep_counts.values()),
        **info,
    }


def _whole_city_bytes(repo) -> int:
    from gridgis.maps.geojson import feature_collection
    from gridgis.maps.tiles import TILE_PROPERTIES

    return sum(
        len(feature_collection(repo.read_layer(layer), TILE_PROPERTIES[layer]).encode("utf-8")) for layer in SHOWN
    )


def run(scale: str = "small") -> list[dict]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    t = time.perf_counter()
    repo, _ = _store(scale)
    setup_s = time.perf_counter() - t
    counts = repo.counts()
    server, thread, url = _serve(repo)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            cold = _load(browser, url)
            warm = _load(browser, url)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    whole = _whole_city_bytes(repo)
    name = f"viewer/{scale}"
    rows = [
        {
            "metric": "micro-grids / buildings in the store",
            "value": f"{counts['micro_grids']:,} / {counts['buildings']:,}",
            "unit": "",
        },
        {"metric": "store ready (load or reuse)", "value": round(setup_s, 2), "unit": "s"},
        {"metric": "first render, cold server cache", "value": round(cold["first_render_ms"]), "unit": "ms"},
        {"metric": "first render, warm server cache", "value": round(warm["first_render_ms"]), "unit": "ms"},
        {"metric": "pan half a screen to drawn", "value": round(warm["pan_s"] * 1000), "unit": "ms"},
        {"metric": "zoom in to 16 to drawn, first time", "value": round(cold["deep_s"] * 1000), "unit": "ms"},
        {"metric": "zoom in to 16 to drawn, again", "value": round(warm["deep_s"] * 1000), "unit": "ms"},
        {"metric": "features drawn at zoom 16", "value": warm["deep_features"], "unit": "features"},
        {"metric": f"tiles for the first view (zoom {warm['zoom']})", "value": warm["tiles"], "unit": "tiles"},
        {"metric": "features drawn in the first view", "value": sum(warm["counts"].values()), "unit": "features"},
        {
            "metric": "bytes sent for the first view (page, assets, tiles)",
            "value": warm["bytes"],
            "unit": "B",
            "peer": f"whole city as one GeoJSON: {whole:,} B",
            "ratio": round(warm["bytes"] / whole, 3) if whole else "",
        },
    ]
    for r in rows:
        r["benchmark"] = name
        r.setdefault("peer", "")
        r.setdefault("ratio", "")
    return rows
