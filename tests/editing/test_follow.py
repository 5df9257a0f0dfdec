"""Micro-grids follow every planner operation; operations' outputs are valid coverages (no spikes)."""

from __future__ import annotations

import httpx
import pytest
import shapely
from shapely.geometry import LineString, mapping

from gridgis.editing.examples import COMMUNITY_A
from gridgis.editing.testing import editing_server
from gridgis.layers.coverage import check_coverage

G1, G2 = COMMUNITY_A + "001", COMMUNITY_A + "002"


@pytest.fixture()
def api(tmp_path):
    with (
        editing_server(str(tmp_path / "g.db")) as (base, tokens, repo),
        httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {tokens['planner']}"}) as c,
    ):
        yield c, repo


def assert_tiled(repo, grid_code: str) -> None:
    """The grid is exactly tiled by single-part micro-grids whose households add up to the grid's."""
    grid = repo.get_feature("grids", grid_code)
    micro = repo.read_layer("micro_grids", filters={"grid_code": [grid_code]})
    assert len(micro), f"grid {grid_code} has no micro-grid"
    found = check_coverage(list(micro.geometry.values), list(micro["code"]), grid["geometry"], metric_crs="EPSG:4547")
    assert found.ok, (grid_code, [(i.kind, i.codes, i.measure) for i in found.issues], found.difference_m2)
    assert set(micro.geometry.geom_type) == {"Polygon"}, (grid_code, list(micro.geometry.geom_type))
    assert int(micro["households"].sum()) == int(grid["households"]), grid_code


def test_split_grid_gives_the_new_grid_micro_grids_at_once(api):
    client, repo = api
    line = LineString([(116.399, 39.904), (116.406, 39.904)])
    r = client.post("/operations/split-grid", json={"grid": G1, "line": mapping(line), "new_code": COMMUNITY_A + "009"})
    assert r.status_code == 200, r.text
    for code in (G1, COMMUNITY_A + "009"):
        assert_tiled(repo, code)


def test_merge_leaves_micro_grids_adding_up_to_the_merged_grid(api):
    client, repo = api
    r = client.post("/operations/merge-grids", json={"grids": [G1, G2]})
    assert r.status_code == 200, r.text
    assert_tiled(repo, G1)
    assert not len(repo.read_layer("micro_grids", filters={"grid_code": [G2]}))


def test_move_boundary_and_transfer_keep_every_changed_grid_tiled(api):
    client, repo = api
    new_a = shapely.box(116.400, 39.900, 116.4062, 39.910)
    r = client.post("/operations/move-boundary", json={"a": G1, "b": G2, "geometry": mapping(new_a)})
    assert r.status_code == 200, r.text
    assert_tiled(repo, G1)
    r = client.post("/operations/transfer-compound", json={"compound": COMMUNITY_A + "Q002", "to_grid": G1})
    assert r.status_code == 200, r.text
    assert_tiled(repo, G1)
