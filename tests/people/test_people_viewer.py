"""The viewer's people layer in headless Debian chromium: responsibility colouring and the four indices."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
B = [f"310115001001Q001B00{i}" for i in range(1, 7)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory, people_template, small_placer):
    from gridgis.api import create_app
    from gridgis.people.store import PeopleStore
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from gridgis.tickets.testing import live_server

    path = tmp_path_factory.mktemp("people-viewer") / "v.db"
    shutil.copyfile(people_template, path)
    repo = Repository(f"sqlite:///{path}")
    store = PeopleStore(repo, placer=small_placer)
    w = store.add_persons(
        [store.person_row(name="范淑珍", category="专职网格员", work_area=small_placer.buildings.at[B[0], "grid_code"])]
    )[0]
    store.assign(w, "building", B[0])
    v = store.add_persons([store.person_row(name="陈静", category="志愿者", building_code=B[1], unit=1)])[0]
    store.assign(v, "unit", f"{B[1]}-U1")
    app = create_app(get_settings(database_url=str(repo.engine.url)), repo)
    app.state.people_store = store
    with live_server(app) as base:
        yield base
    repo.dispose()


@pytest.fixture(scope="module")
def page(server):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN")
        context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{server}/map")
        pg.wait_for_function(
            "window.gridgisViewer && window.gridgisViewer.firstRender !== null && window.gridgisPeople", timeout=30000
        )
        pg.errors = errors
        yield pg
        browser.close()


def _fills(page):
    return page.evaluate(
        """(() => { const out = {}; window.gridgisPeople.layer.eachLayer(l => {
            out[l.feature.properties.code] = l.options.fillColor; }); return out; })()"""
    )


def test_buildings_are_coloured_by_responsibility(page):
    page.evaluate("window.gridgisPeople.select('coverage')")
    page.wait_for_function("window.gridgisPeople.pending === 0 && window.gridgisPeople.features > 0", timeout=20000)
    fills = _fills(page)
    assert len(fills) == 6
    assert fills[B[0]] == "#1a9850"  # 包栋
    assert fills[B[1]] == "#fee08b"  # one of two units
    assert fills[B[5]] == "#d73027"  # nobody
    assert "包栋" in page.locator(".people-legend").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "people-coverage.png"))
    assert page.errors == [] and page.evaluate("window.gridgisPeople.errors") == []


def test_grids_are_coloured_by_an_assessment_index(page):
    page.evaluate("window.gridgisPeople.select('index:service', '2026-09')")
    page.wait_for_function(
        "window.gridgisPeople.pending === 0 && window.gridgisPeople.mode === 'index:service' && window.gridgisPeople.features > 0",
        timeout=20000,
    )
    assert page.evaluate("window.gridgisPeople.features") == 4
    assert set(_fills(page).values()) == {"#bbbbbb"}  # no tickets in the store: no data, shown grey
    assert page.evaluate("window.gridgisPeople.legend.length") == 6
    assert page.errors == [] and page.evaluate("window.gridgisPeople.errors") == []
