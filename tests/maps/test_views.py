"""Thematic views: workload classes, alignment layers, coverage layers; the map command."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from citykit import make_city, make_tickets
from test_folium_maps import layer_data

from gridgis.errors import ValidationError
from gridgis.maps import assets, views
from gridgis.maps.coverage import coverage_report, suggest_sites
from gridgis.maps.folium_maps import save_map


@pytest.fixture(scope="module")
def city():
    return make_city()


def test_classes_run_from_light_to_dark_for_volume_and_red_to_green_for_rates():
    colours, breaks = views.classify(pd.Series([0, 10, None]), good_high=False)
    assert colours[0] == "#ffffb2" and colours[1] == "#bd0026" and colours[2] is None
    assert breaks[0] == 0 and breaks[-1] == 10
    good, _ = views.classify(pd.Series([0.5, 1.0]), good_high=True)
    assert good == ["#d7191c", "#1a9641"]


def test_monthly_statistics_are_combined_per_grid():
    stats = pd.DataFrame(
        {
            "grid_code": ["g1", "g1", "g2"],
            "month": ["2026-01", "2026-02", "2026-01"],
            "volume": [3, 5, 1],
            "on_time_rate": [1.0, 0.5, None],
            "satisfaction": [4, 5, 3],
        }
    )
    out = views.per_grid(stats).set_index("code")
    assert out.loc["g1", "volume"] == 8 and out.loc["g1", "on_time_rate"] == 0.75
    with pytest.raises(ValidationError):
        views.per_grid(pd.DataFrame({"volume": [1]}))


def test_workload_map_colours_grids_by_the_chosen_measure(city, tmp_path):
    stats = pd.DataFrame(
        {
            "grid_code": city["grids"]["code"],
            "volume": [1, 2, 3, 4],
            "on_time_rate": [0.9, 0.8, 0.7, 1.0],
            "satisfaction": [4.5, 4.0, 3.5, 5.0],
        }
    )
    html = save_map(views.workload_map(city, make_tickets(city), stats, metric="on_time_rate"), tmp_path / "w.html")
    grids = layer_data(html.read_text())["grids"]["features"]
    by_code = {f["properties"]["code"]: f["properties"] for f in grids}
    assert by_code["310115007002002"]["_color"] == "#1a9641"  # 100 % on time: greenest
    assert by_code["310115007002001"]["_color"] == "#d7191c"  # 70 %: reddest
    with pytest.raises(ValidationError):
        views.workload_map(city, None, stats, metric="speed")


def test_alignment_map_draws_cut_compounds_and_proposed_grid_lines(city, tmp_path):
    cut = city["compounds"].iloc[:1].assign(status_zh="被网格线切割", grid_codes="310115007001001、310115007001002")
    proposed = city["grids"].iloc[:2]
    html = save_map(views.alignment_map(city, cut, proposed), tmp_path / "a.html").read_text()
    data = layer_data(html)
    assert len(data["cut_compounds"]["features"]) == 1 and len(data["proposed_grids"]["features"]) == 2
    assert json.dumps("建议网格线（2）")[1:-1] in html  # the layer control names the layer (JSON-escaped)


def test_alignment_map_uses_the_alignment_library_when_no_frames_are_given(city, tmp_path):
    cut, proposed = views.alignment_frames(city)
    if cut is None:
        pytest.skip("gridgis.alignment is not available")
    assert len(cut) == 0  # the test city's compounds sit inside their grids
    # the proposal may merge under-full grids (split_merge), but it covers exactly the same ground
    assert 1 <= len(proposed) <= len(city["grids"])
    assert abs(proposed.union_all().area - city["grids"].union_all().area) < 1e-9


def test_coverage_map_shows_the_gaps_and_new_sites_for_one_kind(city, tmp_path):
    result = coverage_report(city, "5min")
    sites = suggest_sites(result.demand, result.demand["covered_canteen"], city["buildings"].geometry, "5min", k=2)
    html = save_map(views.coverage_map(city, result, "canteen", sites), tmp_path / "c.html").read_text()
    data = layer_data(html)
    assert {f["properties"]["kind"] for f in data["stations"]["features"]} == {"canteen"}
    assert len(data["uncovered"]["features"]) == 2 and len(data["sites"]["features"]) == 2
    assert assets.external_urls(html) == []


def test_map_command_writes_an_offline_file_from_a_data_folder(city, tmp_path):
    from typer.testing import CliRunner

    from gridgis.cli import app
    from gridgis.io import write_city

    write_city({**city, "tickets": make_tickets(city)}, tmp_path / "city")
    runner = CliRunner()
    for view in ("overview", "workload", "coverage"):
        out = tmp_path / f"{view}.html"
        res = runner.invoke(app, ["map", "--out", str(out), "--data-dir", str(tmp_path / "city"), "--view", view])
        assert res.exit_code == 0, res.output
        assert assets.external_urls(out.read_text(encoding="utf-8")) == []
    assert "覆盖率" in res.output
    bad = runner.invoke(
        app, ["map", "--out", str(tmp_path / "x.html"), "--data-dir", str(tmp_path / "city"), "--view", "nonsense"]
    )
    assert bad.exit_code != 0


def test_workload_map_from_a_store_colours_grids_by_the_stores_own_ticket_figures(city, tmp_path):
    from typer.testing import CliRunner

    from gridgis.cli import app
    from gridgis.storage import Repository
    from gridgis.tickets.store import TicketStore

    url = f"sqlite:///{tmp_path / 'g.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(city, author="测试", message="city")
    store = TicketStore(repo, create_tables=True)
    busy, quiet = (
        city["grids"].geometry.iloc[0].representative_point(),
        city["grids"].geometry.iloc[1].representative_point(),
    )
    for _ in range(5):
        store.create(busy.x, busy.y, matter_code="M11")
    store.create(quiet.x, quiet.y, matter_code="M11")
    repo.dispose()
    out = tmp_path / "workload.html"
    res = CliRunner().invoke(app, ["map", "--out", str(out), "--database-url", url, "--view", "workload"])
    assert res.exit_code == 0, res.output
    assert "6 tickets" in res.output
    by_code = {f["properties"]["code"]: f["properties"] for f in layer_data(out.read_text())["grids"]["features"]}
    busy_code, quiet_code = city["grids"]["code"].iloc[0], city["grids"]["code"].iloc[1]
    assert by_code[busy_code]["volume"] == 5 and by_code[quiet_code]["volume"] == 1
    assert by_code[busy_code]["_color"] != by_code[quiet_code]["_color"]
