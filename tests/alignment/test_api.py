"""The alignment routes over real HTTP (uvicorn on a free localhost port) on a SQLite store."""

from __future__ import annotations

import contextlib

import geopandas as gpd
import httpx
import pytest
import shapely
from alignment_synth import COMMUNITY, city


@contextlib.contextmanager
def serve(repository):

    from gridgis.api import create_app
    from gridgis.settings import get_settings

    app = create_app(get_settings(database_url=repository.url), repository)
    from tests.live import LiveServer

    with LiveServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path_factory.mktemp('align') / 'store.db'}")
    repo.create_schema()
    c = city(per_building=5)
    streets = gpd.GeoDataFrame(
        {"code": ["110105001000"], "name": ["测试街道"]}, geometry=[c["communities"].geometry.iloc[0]], crs="EPSG:4326"
    )
    repo.write_city({"streets": streets, **c}, author="test", message="synthetic community")
    with serve(repo) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client, repo


def test_analysis_lists_the_cut_compounds(api):
    client, _ = api
    r = client.get(f"/communities/{COMMUNITY}/alignment/analysis")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["small_cut_compounds"] == 4 and len(body["cut_compound_list"]) == 4
    assert body["coverage"]["ok"] is True


def test_problems_are_geojson_pieces(api):
    client, _ = api
    r = client.get(f"/communities/{COMMUNITY}/alignment/problems")
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 4
    assert {f["properties"]["kind"] for f in fc["features"]} <= {"cut_piece", "minor_piece"}


def test_proposal_returns_grids_changes_and_report_without_storing(api):
    client, repo = api
    before = len(repo.generations())
    r = client.post(f"/communities/{COMMUNITY}/alignment/proposal", json={"household_min": 300})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["grids"]["features"]) == 3 and body["changes"]["features"]
    assert body["report"]["city"]["small_cut_compounds_after"] == 0
    assert len(repo.generations()) == before


def test_unknown_setting_is_a_422_naming_it(api):
    client, _ = api
    r = client.post(f"/communities/{COMMUNITY}/alignment/proposal", json={"household_maximum": 9})
    assert r.status_code == 422 and "household_maximum" in r.text


def test_unknown_community_is_404(api):
    client, _ = api
    assert client.get("/communities/110105001099/alignment/analysis").status_code == 404


def test_party_structure_tree_and_table(api):
    client, _ = api
    tree = client.get(f"/communities/{COMMUNITY}/party-structure").json()["tree"]
    assert tree["label"] == "社区党委" and tree["children"]
    rows = client.get(f"/communities/{COMMUNITY}/party-structure", params={"format": "table"}).json()["rows"]
    assert rows[0]["depth"] == 0 and any(r["label"] == "楼栋党小组" for r in rows)


def test_micro_grid_split_of_a_grid(api):
    client, _ = api
    r = client.get(f"/grids/{COMMUNITY}001/micro-grid-split")
    assert r.status_code == 200, r.text
    feats = r.json()["micro_grids"]["features"]
    assert len(feats) >= 3 and all(f["properties"]["grid_code"] == f"{COMMUNITY}001" for f in feats)


def test_apply_is_a_dry_run_unless_committed_then_a_new_generation(api):
    client, repo = api
    gens = len(repo.generations())
    dry = client.post(f"/communities/{COMMUNITY}/alignment/apply", json={"author": "规划员"}).json()
    assert dry["dry_run"] is True and dry["changes"] and dry["generation"] is None
    changed = {c["code"] for c in dry["changes"] if c["op"] == "replace"}
    assert dry["micro_grid_changes"] and {m["grid_code"] for m in dry["micro_grid_changes"]} == changed
    assert len(repo.generations()) == gens
    refused = client.post(
        f"/communities/{COMMUNITY}/alignment/apply", json={"author": "规划员", "message": "拉平对齐", "commit": True}
    )
    assert refused.status_code == 401 and len(repo.generations()) == gens
    from gridgis.auth.store import TokenStore, ensure_tables

    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("王规划", "planner", [COMMUNITY])
    done = client.post(
        f"/communities/{COMMUNITY}/alignment/apply",
        headers={"Authorization": f"Bearer {token}"},
        json={"author": "冒名者", "message": "拉平对齐", "commit": True},
    ).json()
    # one write path: the editing service stores it, as the authenticated principal, audited
    assert done["generation"]["author"] == "王规划", done
    assert len(repo.generations()) == gens + 1
    from gridgis.auth.store import AuditLog

    entries = AuditLog(repo.engine).entries(limit=5)
    assert any(e["action"] == "align-apply" and e["generation"] == done["generation"]["id"] for e in entries), entries
    # the old boundaries stay readable in the previous generation
    old = repo.read_layer("grids", generation=done["generation"]["id"] - 1)
    new = repo.read_layer("grids")
    assert not all(shapely.equals(a, b) for a, b in zip(old.geometry, new.geometry))
    micro = repo.read_layer("micro_grids")
    assert set(micro["grid_code"]) == changed  # written in the same generation as the grids
    again = client.post(f"/communities/{COMMUNITY}/alignment/apply", json={"author": "规划员"}).json()
    assert again["changes"] == [] and again["micro_grid_changes"] == []
    assert client.get(f"/communities/{COMMUNITY}/alignment/analysis").json()["small_cut_compounds"] == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"household_min": "abc"},
        {"rebalance": "no"},
        {"household_max": 1.5},
        {"household_min": 900},
        {"grid_size_m": 1e9},
        {"sliver_share": "nan"},
    ],
)
def test_bad_settings_are_422_not_500(api, settings):
    client, _ = api
    r = client.post(f"/communities/{COMMUNITY}/alignment/proposal", json=settings)
    assert r.status_code == 422, r.text


def test_apply_with_a_non_boolean_commit_is_refused(api):
    client, repo = api
    gens = len(repo.generations())
    r = client.post(f"/communities/{COMMUNITY}/alignment/apply", json={"author": "x", "commit": "yes"})
    assert r.status_code == 422 and len(repo.generations()) == gens
