"""The viewer draws micro-grids from Mapbox Vector Tiles (Leaflet.VectorGrid from npm, served locally) in
headless chromium, and falls back to GeoJSON tiles when asked or when the plug-in is missing."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS
from test_viewer_browser import EXPECTED_AT_OPEN, assert_clean, open_viewer

from gridgis.maps import assets

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _plugin_installed():
    if assets.vector_tile_plugin() is None:
        pytest.fail(f"{assets.VECTOR_TILE_PLUGIN} is not installed in {assets.node_modules()}: run npm ci")


def test_the_viewer_draws_micro_grids_from_mvt_tiles_with_the_same_features(page, live_server):
    counts = open_viewer(page, live_server)
    page.wait_for_function("window.gridgisViewer.pending === 0", timeout=20000)
    counts = page.evaluate("window.gridgisViewer.counts()")
    assert page.evaluate("window.gridgisViewer.mvt") is True
    mvt = [u for u in page.recorder.requests if ".mvt" in u]
    assert mvt and all("/tiles/micro_grids/" in u for u in mvt), mvt
    assert all("g=" in u for u in mvt)  # asked for by generation: cacheable by proxies
    assert not [u for u in page.recorder.requests if "/tiles/micro_grids/" in u and ".geojson" in u]
    assert {k: counts[k] for k in EXPECTED_AT_OPEN} == EXPECTED_AT_OPEN
    assert page.locator(".leaflet-tile-pane svg path").count() >= EXPECTED_AT_OPEN["micro_grids"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-mvt.png"))
    assert_clean(page)


def test_clicking_inside_a_micro_grid_shows_its_popup(page, live_server, city):
    open_viewer(page, live_server)
    page.wait_for_function("window.gridgisViewer.pending === 0", timeout=20000)
    micro = city["micro_grids"]
    compounds = city["compounds"].geometry.union_all()
    # a point of a micro-grid outside every compound (compounds are drawn above and open their own popup)
    for _, row in micro.iterrows():
        free = row.geometry.buffer(-2e-5).difference(compounds)
        if not free.is_empty and free.area > 1e-9:
            point = free.representative_point()
            break
    xy = page.evaluate(
        "([lat, lon]) => { const p = window.gridgisViewer.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [point.y, point.x],
    )
    page.mouse.click(xy[0], xy[1])
    popup = page.locator(".leaflet-popup .gg-popup", has_text=row["code"])
    popup.wait_for(timeout=5000)
    page.wait_for_timeout(500)
    texts = page.locator(".leaflet-popup .gg-popup").all_inner_texts()
    assert len(texts) == 1 and row["code"] in texts[0], texts  # the micro-grid's, not the grid's under it
    assert_clean(page)


def test_geojson_tiles_remain_the_fallback(page, live_server):
    page.goto(f"{live_server.url}/map?tiles=geojson")
    page.wait_for_function("window.gridgisViewer && window.gridgisViewer.firstRender !== null", timeout=20000)
    assert page.evaluate("window.gridgisViewer.mvt") is False
    counts = page.evaluate("window.gridgisViewer.counts()")
    assert {k: counts[k] for k in EXPECTED_AT_OPEN} == EXPECTED_AT_OPEN
    assert not [u for u in page.recorder.requests if ".mvt" in u]
    assert_clean(page)
