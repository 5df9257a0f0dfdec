"""The web editor in real Chromium: time from a planner's click to its validation drawn on the map.

On the sample city (``small``) or a city-scale sample (``city``), served by uvicorn on SQLite, a
planner signed in to ``/map`` selects a grid and, in the merge tool, clicks its neighbour; the
editor runs the operation's dry run and ``/viewer/impact`` and draws their problems. Measured in
the page: ``performance.now()`` just before the click to the editor's ``gridgis:validated`` event
(after drawing). Also: the same click after 11 s without requests (the server's default thread
pool has let its idle threads go by then; dry runs run on long-lived threads, see
``gridgis.api.geowork``), the requests' own durations (the browser's resource timing: the dry run,
which answers its impact too, and a separate ``/viewer/impact`` if the editor makes one), and the
bytes of the editor's assets. Peer: a ``fetch`` of one grid from the same page.

``python -m bench.editor_browser [small|city]`` prints the rows.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
REPEAT = 5


def _row(metric: str, value_ms: float, peer: str, peer_ms: float, **extra) -> dict:
    row = {
        "benchmark": "editor_browser",
        "metric": metric,
        "value": round(value_ms, 1),
        "unit": "ms",
        "peer": f"{peer} {peer_ms:.3g} ms",
        "ratio": round(value_ms / peer_ms, 2) if peer_ms else "",
    }
    row.update(extra)
    return row


def run(scale: str = "small") -> list[dict]:
    import shapely
    from playwright.sync_api import sync_playwright

    from bench.editing import _pick, _sample_city
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.storage import Repository
    from tests.support.editing import live_api

    if not Path(CHROMIUM).exists():
        return []
    city = _sample_city(scale)
    repo = Repository(f"sqlite:///{tempfile.mkdtemp(prefix='bench_editor_')}/g.db")
    repo.create_schema()
    repo.write_city(city, author="bench", message="bench")
    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("bench", "admin", [])
    p = _pick(repo)
    a, ga, gb = p["a"], p["ga"], p["gb"]
    x0, y0, x1, y1 = shapely.total_bounds([ga, gb])
    in_a, in_b = shapely.point_on_surface(ga), shapely.point_on_surface(gb)
    label = "sample city" if scale == "small" else "city-scale sample"
    rows: list[dict] = []
    with live_api(repo) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/map")
        page.wait_for_function("window.gridgisViewer && window.gridgisViewer.firstRender !== null", timeout=120000)
        page.fill(".gg-ed-signin input", token)
        page.click(".gg-ed-signin button")
        page.wait_for_selector(".gg-ed-tools", timeout=30000)
        page.evaluate(
            f"window.gridgisViewer.map.fitBounds([[{y0}, {x0}], [{y1}, {x1}]], "
            "{paddingTopLeft: [380, 20], paddingBottomRight: [20, 20], animate: false})"
        )
        page.evaluate("document.addEventListener('gridgis:validated', () => { window.__t1 = performance.now(); })")
        page.wait_for_function("window.L && window.L.PM !== undefined", timeout=60000)  # the plug-in, after sign-in
        sizes = page.evaluate(
            "performance.getEntriesByType('resource').map(e => [/editor\\.(js|css)|geoman/.test(e.name),"
            " e.transferSize, e.decodedBodySize])"
        )
        mine = [s for s in sizes if s[0]]

        def idle() -> None:
            page.wait_for_function(
                "window.gridgisEditor.busy === 0 && window.gridgisViewer.pending === 0", timeout=120000
            )

        def click(pt) -> None:
            idle()
            xy = page.evaluate(
                f"(() => {{ const q = window.gridgisViewer.map.latLngToContainerPoint([{pt.y}, {pt.x}]);"
                " return [q.x, q.y]; })()"
            )
            box = page.locator("#map").bounding_box()
            page.evaluate("window.__t0 = performance.now(); window.__t1 = null; performance.clearResourceTimings()")
            page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])

        def merge_click() -> tuple[float, float, float]:
            """Click b in the merge tool (a selected); (click→drawn, dry run request, impact request) in ms."""
            page.click(".gg-ed-tools [data-mode=merge]")  # a fresh merge tool, a still selected
            click(in_b)
            page.wait_for_function("window.__t1 !== null", timeout=120000)
            took = page.evaluate("window.__t1 - window.__t0")
            timing = page.evaluate(
                "Object.fromEntries(performance.getEntriesByType('resource')"
                ".filter(e => /operations|viewer\\/impact/.test(e.name))"
                ".map(e => [e.name.includes('impact') ? 'impact' : 'dry', e.duration]))"
            )
            return took, timing.get("dry", 0.0), timing.get("impact", 0.0)

        page.click(".gg-ed-tools [data-mode=select]")
        click(in_a)
        idle()
        merge_click()  # warm: the first dry run of this generation reads the store
        samples = [merge_click() for _ in range(REPEAT)]
        time.sleep(11)  # the default thread pool drops threads idle for 10 s
        after_idle = merge_click()
        peer = statistics.median(
            page.evaluate(
                f"(async () => {{ const t = []; for (let i = 0; i < {REPEAT}; i++) {{ const s = performance.now();"
                f" await (await fetch('/collections/grids/items/{a}')).json(); t.push(performance.now() - s); }}"
                " return t; })()"
            )
        )
        browser.close()
    repo.dispose()
    took = statistics.median(s[0] for s in samples)
    sent, unpacked = sum(s[1] for s in mine), sum(s[2] for s in mine)
    rows.append(
        {
            "benchmark": "editor_browser",
            "metric": f"editor assets added to /map ({len(mine)} files, transferred; {unpacked} B unpacked)",
            "value": sent,
            "unit": "B",
            "peer": f"everything /map loaded until sign-in {sum(s[1] for s in sizes)} B",
            "ratio": round(sent / max(1, sum(s[1] for s in sizes)), 2),
            "target": f"≤ 300 KB: {'met' if sent <= 300_000 else 'MISSED'}",
        }
    )
    rows.append(
        _row(
            f"click to drawn validation, merge ({label})",
            took,
            "page fetch of a grid",
            peer,
            dry_run_request_ms=round(statistics.median(s[1] for s in samples), 1),
            impact_request_ms=round(statistics.median(s[2] for s in samples), 1) or "in the dry run",
            samples_ms=[round(s[0]) for s in samples],
        )
    )
    rows.append(
        _row(f"click to drawn validation after 11 s idle ({label})", after_idle[0], "page fetch of a grid", peer)
    )
    return rows


if __name__ == "__main__":
    import sys

    for r in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(r)
