"""The web editor on the AMap base map (drawn in GCJ-02, saved in WGS84) and the alignment review with
some changes accepted and others rejected, end to end in headless Debian chromium."""

from __future__ import annotations

import pytest
import test_editor_browser as editor
from citykit import DX, DY, X0, Y0
from test_editor_browser import A, click_at, commit, drag_shared_edge, get, grid_at, idle, shot, sign_in, wait_validated

from gridgis.chinacoords import wgs84_to_gcj02

pytestmark = pytest.mark.browser
editor_server, page = editor.editor_server, editor.page  # the editor tests' fixtures


def gcj(lon, lat):
    x, y = wgs84_to_gcj02(lon, lat)
    return float(x), float(y)


def metres(a, b):
    """Distance in metres between two (lon, lat) points a few hundred metres apart."""
    import math

    return math.hypot((a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1])), (a[1] - b[1]) * 110_570)


def shifted_sw(x0, y0, x1, y1):
    """The south-west corner of the bounds of a lon/lat box once shifted to GCJ-02 (the shift varies over it)."""
    corners = [gcj(x, y) for x in (x0, x1) for y in (y0, y1)]
    return min(c[0] for c in corners), min(c[1] for c in corners)


def fake_amap(page):
    """No network: AMap's tile requests are answered by the test (204)."""
    page.context.route("**/*autonavi.com/**", lambda route: route.fulfill(status=204))


def test_under_amap_layers_and_the_editor_draw_shifted_and_a_dragged_vertex_saves_in_wgs84(page, editor_server):
    fake_amap(page)
    sign_in(page, editor_server)
    page.select_option(".gg-basemap select", "amap")
    page.wait_for_function("window.gridgisViewer.shifted() && window.gridgisViewer.pending === 0", timeout=20000)
    sw, ne = gcj(X0, Y0), gcj(X0 + DX, Y0 + DY)
    page.evaluate(
        f"window.gridgisViewer.map.fitBounds([[{sw[1]}, {sw[0]}], [{ne[1]}, {ne[0]}]], "
        "{paddingTopLeft: [360, 20], paddingBottomRight: [20, 20], animate: false})"
    )
    idle(page)
    # the viewer's grid layer (tiles asked for in GCJ-02) lies where the shift puts A's south-west corner
    corner = page.evaluate(
        f"(() => {{ let b = null; window.gridgisViewer.layers.grids.eachLayer(l => {{"
        f" if (l.feature.properties.code === '{A}') b = l.getBounds().getSouthWest(); }}); return [b.lng, b.lat]; }})()"
    )
    # (tiles carry coordinates rounded for their zoom: metres, not centimetres)
    a_sw = shifted_sw(X0, Y0 + DY / 2, X0 + DX, Y0 + DY)
    assert metres(corner, a_sw) < 2 and metres(corner, (X0, Y0 + DY / 2)) > 100
    # a thematic view is drawn shifted too
    page.check(".gg-views [data-view=coverage]")
    page.wait_for_function("(window.gridgisViewer.views.layers.coverage || []).length === 2", timeout=30000)
    data, drawn = page.evaluate(
        "(() => { const f = window.gridgisViewer.views.data.coverage.service_areas.features[0].geometry;"
        " const c = f.type === 'Polygon' ? f.coordinates[0][0] : f.coordinates[0][0][0];"
        " let ll = window.gridgisViewer.views.layers.coverage[0].getLayers()[0].getLatLngs();"
        " while (Array.isArray(ll)) ll = ll[0]; return [c, [ll.lng, ll.lat]]; })()"
    )
    assert metres(drawn, gcj(*data)) < 0.5
    page.uncheck(".gg-views [data-view=coverage]")

    # the editor: the selection is drawn on the shifted map, the edit is sent and saved in WGS84
    click_at(page, *gcj(X0 + 0.05 * DX, Y0 + 0.97 * DY))  # inside A (clicked where A is drawn)
    idle(page)
    assert page.evaluate("window.gridgisEditor.sel && window.gridgisEditor.sel.code") == A
    sel = page.evaluate(
        "(() => { const b = window.gridgisEditor.layers.work.getBounds().getSouthWest(); return [b.lng, b.lat]; })()"
    )
    assert metres(sel, a_sw) < 0.01
    page.click(".gg-ed-tools [data-mode=move]")
    click_at(page, *gcj(X0 + 0.05 * DX, Y0 + 0.03 * DY))  # B
    idle(page)
    drag_shared_edge(page, -0.3)
    dry = wait_validated(page)
    mine = next(f for f in dry["changes"] if f["properties"]["code"] == A)
    ring = [tuple(c) for c in mine["geometry"]["coordinates"][0]]
    want = (X0 + 0.5 * DX, Y0 + 0.2 * DY)  # the edge's middle, 0.3 × DY south of the old edge, in WGS84
    nearest = min(ring, key=lambda c: metres(c, want))
    assert metres(nearest, want) < 15, (nearest, want)  # a few pixels of mouse; not the ≈ 500 m GCJ-02 offset
    shot(page, "editor-amap.png")
    commit(page, "高德底图上移动共享边")
    stored = get(editor_server, f"/collections/grids/items/{A}")["geometry"]["coordinates"][0]
    stored = [tuple(c) for c in stored]
    assert metres(min(stored, key=lambda c: metres(c, want)), want) < 15
    for kept in ((X0, Y0 + DY / 2), (X0 + DX, Y0 + DY / 2), (X0, Y0 + DY)):  # vertices not dragged: exactly kept
        assert any(abs(c[0] - kept[0]) < 1e-9 and abs(c[1] - kept[1]) < 1e-9 for c in stored), kept
    assert grid_at(editor_server, X0 + 0.5 * DX, Y0 + 0.3 * DY, expect=A) == A
    assert page.recorder.errors == [] and page.evaluate("window.gridgisViewer.errors") == []
    assert all("autonavi.com" in u for u in page.recorder.outside())  # only AMap's tiles, answered by the test


COMMUNITY = "310115004004"  # a community of the sample city whose proposal has four changes


@pytest.fixture
def sample_server(tmp_path):
    """The committed sample city (Lujiazui) served by a real uvicorn, with a planner for its street."""
    from pathlib import Path

    from gridgis.api.app import create_app
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.io import read_city
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.live import LiveServer

    city = {k: v for k, v in read_city(Path(__file__).resolve().parents[2] / "data" / "geojson").items()}
    city.pop("tickets", None)
    repo = Repository(f"sqlite:///{tmp_path / 'sample.db'}")
    repo.create_schema()
    repo.write_city(city, author="editor-tests", message="sample city")
    ensure_tables(repo.engine)
    planner, _ = TokenStore(repo.engine).create("王规划", "planner", [COMMUNITY[:9] + "000"])
    app = create_app(get_settings(database_url=repo.url), repo)
    with LiveServer(app) as server:
        server.repo, server.planner = repo, planner
        yield server


def inside(geometry):
    """A point inside the largest part of a GeoJSON (Multi)Polygon."""
    import shapely
    from shapely.geometry import shape

    parts = shapely.get_parts(shape(geometry))
    p = shapely.point_on_surface(max(parts, key=lambda g: g.area))
    return p.x, p.y


def test_review_accepts_one_change_rejects_the_others_and_only_it_is_applied(page, sample_server):
    repo = sample_server.repo
    grids = repo.read_layer("grids", filters={"community_code": COMMUNITY})
    before = {str(c): int(h) for c, h in zip(grids["code"], grids["households"])}
    x0, y0, x1, y1 = grids.total_bounds
    editor.open_map(page, sample_server)
    page.fill(".gg-ed-signin input", sample_server.planner)
    page.click(".gg-ed-signin button")
    page.wait_for_selector(".gg-ed-tools", timeout=5000)
    page.evaluate(
        f"window.gridgisViewer.map.fitBounds([[{y0}, {x0}], [{y1}, {x1}]], "
        "{paddingTopLeft: [380, 20], paddingBottomRight: [20, 20], animate: false})"
    )
    idle(page)
    page.click(".gg-ed-tools [data-mode=align]")
    first = grids.set_index("code").geometry[COMMUNITY + "001"]
    click_at(page, *inside(first.__geo_interface__))
    page.wait_for_selector(".gg-ed-align", timeout=60000)
    idle(page)
    changes = page.evaluate("window.gridgisEditor.proposal.changes.features")
    assert len(changes) >= 2
    for i in range(1, len(changes)):  # reject every change but the first
        page.uncheck(f".gg-ed-align input[data-i='{i}']")
    page.evaluate("window.gridgisEditor.lastDry = null")
    page.click(".gg-ed-align-check")
    dry = wait_validated(page)
    assert dry["valid"], dry
    shot(page, "editor-review-partial.png")
    commit(page, "只接受第一条对齐建议")

    accepted, rejected = changes[0]["properties"], [c for c in changes[1:] if c["properties"]["households"]]
    src, dst = accepted["from_grid"], accepted["to_grid"]
    after = {c: int(get(sample_server, f"/collections/grids/items/{c}")["properties"]["households"]) for c in before}
    assert after[src] < before[src] and after[dst] > before[dst]
    assert sum(after.values()) == sum(before.values())
    untouched = set(before) - {src, dst}
    assert {c: after[c] for c in untouched} == {c: before[c] for c in untouched}  # rejected changes not applied
    # /route: the accepted piece now belongs to its new grid; a rejected piece stays where it was
    assert grid_at(sample_server, *inside(changes[0]["geometry"]), expect=dst) == dst
    for change in rejected:
        p = change["properties"]
        if {p["from_grid"], p["to_grid"]} & {src, dst}:
            continue  # a rejected piece between the two changed grids may have moved with their new outlines
        assert grid_at(sample_server, *inside(change["geometry"])) == p["from_grid"]
    hist = get(sample_server, f"/collections/grids/items/{dst}/history")["features"]
    assert hist[-1]["properties"]["message"] == "只接受第一条对齐建议"
    assert page.recorder.errors == [] and page.recorder.outside() == []


def test_the_coverage_view_of_the_map_walks_the_roads_and_says_how_much_they_cover(page, city, tmp_path):
    """/map's life-circle layer with a configured road network (the Lujiazui OSM roads): the method line
    names the roads and the share of households they cover; unticking 沿路网 goes back to straight line."""
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.conftest import SHARED_DATA
    from tests.live import LiveServer

    roads = SHARED_DATA / "shanghai-lujiazui-osm-tiles" / "roads.geojson"
    if not roads.exists():
        pytest.skip("../shared/data is not present")
    repo = Repository(f"sqlite:///{tmp_path / 'roads.db'}")
    repo.create_schema()
    repo.write_city(city, author="viewer-tests", message="test city")
    app = create_app(get_settings(database_url=repo.url, roads_file=str(roads)), repo)
    with LiveServer(app) as server:
        editor.open_map(page, server)
        page.check(".gg-views [data-view=coverage]")
        page.wait_for_function("(window.gridgisViewer.views.layers.coverage || []).length === 2", timeout=60000)
        view = page.evaluate("window.gridgisViewer.views.data.coverage")
        info = page.inner_text(".gg-views-info")
        assert "路网" in view["method"] and view["method"] in info
        if view["roads_share"] < 0.995:
            assert f"路网只覆盖 {round(view['roads_share'] * 100)}% 的户数" in info
        shot(page, "viewer-coverage-roads.png")
        page.uncheck(".gg-views [name=roads]")
        page.wait_for_function(
            "window.gridgisViewer.views.data.coverage.roads_share === null && window.gridgisViewer.pending === 0",
            timeout=60000,
        )
        assert "直线" in page.inner_text(".gg-views-info")
        assert page.recorder.errors == [] and page.recorder.outside() == []
    repo.dispose()
