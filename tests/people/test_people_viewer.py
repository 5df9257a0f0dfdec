"""The viewer's people layer in headless Debian chromium: responsibility colouring, the four indices (map
colouring and their chart) and the emergency roster map."""

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
    from tests.support.tickets import live_server

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
    # the roster: B[1]'s micro-grid gets its worker; a vulnerable resident lives there too
    micro = small_placer.buildings.at[B[1], "micro_grid_code"]
    mw = store.add_persons([store.person_row(name="卫东", category="微网格员", work_area=micro)])[0]
    store.assign(mw, "micro_grid", micro)
    from gridgis.people.care import add_care, care_row

    add_care(store, [care_row(store, resident="孙奶奶", category="elderly_alone", building_code=B[2], unit=1)])
    # September tickets in B[0]'s grid: its indices have data, the other grids none
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gridgis.tickets.store import TicketStore

    tickets = TicketStore(repo)
    lon, lat = small_placer.buildings.loc[B[0], ["lon", "lat"]]
    for day in (3, 10):
        tickets.create(
            float(lon),
            float(lat),
            matter_code="M27",
            received_at=datetime(2026, 9, day, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        )
    from gridgis.auth.store import TokenStore, ensure_tables

    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("viewer-admin", "admin", ["*"])
    app = create_app(get_settings(database_url=str(repo.engine.url)), repo)
    app.state.people_store = store
    with live_server(app) as base:
        yield base, token, micro, small_placer.buildings.at[B[0], "grid_code"]
    repo.dispose()


@pytest.fixture(scope="module")
def page(server):
    server, token, micro, grid = server
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
        pg.token, pg.micro, pg.grid = token, micro, grid
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
    fills = _fills(page)
    # B[0]'s grid: two September tickets still open, so its service score is below 90; the others had no
    # tickets that month: 100 by the documented formula (docs/people.md), the top colour
    assert fills[page.grid] not in ("#1a9850", "#bbbbbb", None)
    assert {c for g, c in fills.items() if g != page.grid} == {"#1a9850"}
    assert page.evaluate("window.gridgisPeople.legend.length") == 6
    # the indices' chart: a grouped bar chart from the server, in the control
    page.wait_for_function("window.gridgisPeople.chart !== null", timeout=20000)
    assert page.evaluate("window.gridgisPeople.chart") >= 4  # legend swatches and at least the grid's bars
    assert page.locator(".people-chart svg").count() == 1
    assert page.locator(".people-chart svg rect title").count() >= 1  # bars, each titled with its value
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "people-indices.png"))
    assert page.errors == [] and page.evaluate("window.gridgisPeople.errors") == []


def test_the_roster_map_shows_micro_grids_by_readiness_for_a_signed_in_worker(page):
    community = B[0][:12]
    page.evaluate(f"window.gridgisPeople.select('roster:flood', null, '{community}')")
    page.wait_for_function("window.gridgisPeople.pending === 0", timeout=20000)
    assert page.evaluate("window.gridgisPeople.features") == 0  # no token: personal data stays on the server
    assert "令牌" in page.locator(".people-note").inner_text()
    page.evaluate(f"window.sessionStorage.setItem('gridgis.token', '{page.token}')")  # as the editor's sign-in does
    page.evaluate(f"window.gridgisPeople.select('roster:flood', null, '{community}')")
    page.wait_for_function(
        "window.gridgisPeople.pending === 0 && window.gridgisPeople.features > 0 && window.gridgisPeople.mode === 'roster:flood'",
        timeout=30000,
    )
    assert page.evaluate("window.gridgisPeople.features") == 12
    fills = _fills(page)
    assert fills[page.micro] == "#1a9850"  # its worker, a volunteer living there, nobody vulnerable
    assert list(fills.values()).count("#d73027") == 11  # the other micro-grids have no worker
    assert "防汛防台" in page.locator(".people-note").inner_text()
    assert "无网格员" in page.locator(".people-legend").inner_text()
    page.screenshot(path=str(ARTIFACTS / "people-roster.png"))
    page.evaluate("window.sessionStorage.removeItem('gridgis.token')")
    page.evaluate("window.gridgisPeople.errors.length = 0")
