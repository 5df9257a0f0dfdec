"""Planner operations, validation, generations, diff, revert and history over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.support.editing import editing_server

A = "110105001001"
G1, G2 = A + "001", A + "002"


@pytest.fixture()
def api(tmp_path):
    with (
        editing_server(str(tmp_path / "g.db")) as (base, tokens, repo),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client, tokens, repo


def auth(tokens, who="planner"):
    return {"Authorization": f"Bearer {tokens[who]}"}


def box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def test_move_boundary_changes_both_grids_in_one_generation_with_the_message(api):
    client, tokens, repo = api
    body = {"a": G1, "b": G2, "geometry": box(116.400, 39.900, 116.406, 39.910), "message": "新楼盘交付，调整网格"}
    r = client.post("/operations/move-boundary", json=body, headers=auth(tokens))
    assert r.status_code == 200, r.text
    gen = r.json()["generation"]
    assert gen["message"] == "新楼盘交付，调整网格" and gen["author"] == "planner"
    assert [g.id for g in repo.generations()] == [1, gen["id"]]
    a, b = repo.get_feature("grids", G1), repo.get_feature("grids", G2)
    assert a["geometry"].bounds[2] == pytest.approx(116.406) and b["geometry"].bounds[0] == pytest.approx(116.406)
    assert a["households"] + b["households"] == 800 and a["version"] == b["version"] == 2


def test_shrinking_a_grid_with_micro_grids_clips_them_in_the_same_generation(api):
    client, tokens, repo = api
    body = {"a": G1, "b": G2, "geometry": box(116.400, 39.900, 116.403, 39.910)}
    r = client.post("/operations/move-boundary", json=body, headers=auth(tokens))
    assert r.status_code == 200, r.text
    changed = {f["properties"]["code"] for f in r.json()["changes"]["features"]}
    # G2 had no micro-grid; the area it takes from G1's micro-grids gets one at once (issue 11)
    assert {G1, G2, G1 + "01", G1 + "02", G2 + "01"} == changed
    assert repo.get_feature("micro_grids", G1 + "01")["geometry"].bounds[2] == pytest.approx(116.403)


def test_dry_run_reports_changes_and_problems_but_stores_nothing(api):
    client, tokens, repo = api
    body = {"grids": [G1, G2], "dry_run": True}
    r = client.post("/operations/merge-grids", json=body, headers=auth(tokens)).json()
    assert r["stored"] is False and r["valid"] is True and len(repo.generations()) == 1
    assert [(f["properties"]["op"], f["properties"]["code"]) for f in r["changes"]["features"]][:2] == [
        ("replace", G1),
        ("delete", G2),
    ]


def test_transfer_split_and_merge_each_make_one_valid_generation(api):
    client, tokens, repo = api
    r = client.post("/operations/transfer-compound", json={"compound": A + "Q002", "to_grid": G1}, headers=auth(tokens))
    assert r.status_code == 200, r.text
    line = {"type": "LineString", "coordinates": [[116.399, 39.905], [116.411, 39.905]]}
    r = client.post(
        "/operations/split-grid", json={"grid": G2, "line": line, "new_name": "新网格"}, headers=auth(tokens)
    )
    assert r.status_code == 200, r.text
    assert repo.get_feature("grids", A + "003")["name"] == "新网格"
    r = client.post("/operations/merge-grids", json={"grids": [G2, A + "003"]}, headers=auth(tokens))
    assert r.status_code == 200, r.text
    assert len(repo.generations()) == 4
    assert (
        client.post(
            "/collections/grids/validate",
            json={"type": "FeatureCollection", "features": [client.get(f"/collections/grids/items/{G2}").json()]},
        ).json()["valid"]
        is True
    )


def test_an_operation_outside_the_planners_scope_is_403(api):
    client, tokens, repo = api
    r = client.post("/operations/merge-grids", json={"grids": [G1, G2]}, headers=auth(tokens, "planner_b"))
    assert r.status_code == 403 and len(repo.generations()) == 1


def test_apply_proposal_replaces_a_communitys_grids(api):
    client, tokens, repo = api
    proposal = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": box(116.400, 39.900, 116.410, 39.905),
                "properties": {"code": G1, "name": "南网格", "community_code": A, "households": 400},
            },
            {
                "type": "Feature",
                "geometry": box(116.400, 39.905, 116.410, 39.910),
                "properties": {"code": G2, "name": "北网格", "community_code": A, "households": 400},
            },
        ],
    }
    r = client.post(
        "/operations/apply-proposal", json={"community": A, "proposal": proposal, "dry_run": True}, headers=auth(tokens)
    )
    # the micro-grids of G1 lie across the new boundary: clipped, so the proposal is valid
    assert r.status_code == 200 and r.json()["valid"] is True, r.text
    r = client.post("/operations/apply-proposal", json={"community": A, "proposal": proposal}, headers=auth(tokens))
    assert r.status_code == 200 and repo.get_feature("grids", G2)["name"] == "北网格"


def test_validate_reports_located_problems_without_storing(api):
    client, _, repo = api
    feat = client.get(f"/collections/grids/items/{G1}").json()
    feat["geometry"] = box(116.400, 39.900, 116.404, 39.910)
    r = client.post("/collections/grids/validate", json=feat).json()
    assert r["valid"] is False and sorted(p["kind"] for p in r["problems"]) == ["child_outside", "child_outside", "gap"]
    gap = next(p for p in r["problems"] if p["kind"] == "gap")
    assert gap["where"][0] == pytest.approx(116.4045, abs=5e-4)
    assert len(repo.generations()) == 1


def test_history_diff_as_of_reads_and_revert(api):
    client, tokens, repo = api
    body = {"a": G1, "b": G2, "geometry": box(116.400, 39.900, 116.4075, 39.910), "message": "move"}
    gen = client.post("/operations/move-boundary", json=body, headers=auth(tokens)).json()["generation"]["id"]
    hist = client.get(f"/collections/grids/items/{G1}/history").json()["features"]
    assert [(f["properties"]["version"], f["properties"]["author"], f["properties"]["message"]) for f in hist] == [
        (1, "seed", "tiny example city"),
        (2, "planner", "move"),
    ]
    diff = client.get(f"/generations/1/diff/{gen}").json()
    pieces = {f["properties"]["code"]: f for f in diff["features"]}
    micro = {c for c in pieces if len(c) == 17}
    # G1 grew and G2 shrank: the micro-grids of both were split again from their buildings to tile them
    assert set(pieces) == {G1, G2} | micro and G1 + "01" in micro
    assert all(c.startswith((G1, G2)) for c in micro)
    tiles = repo.read_layer("micro_grids", filters={"grid_code": [G1]})
    assert tiles.geometry.union_all().bounds[2] == pytest.approx(116.4075)
    # the strip 116.405–116.4075 changed hands; it holds building Q002B001 (150 households)
    assert pieces[G1]["properties"]["households_affected"] == 150
    assert pieces[G1]["properties"]["households_a"] == 400 and pieces[G1]["properties"]["households_b"] == 600
    assert pieces[G1]["geometry"]["type"] == "Polygon"
    old = client.get(f"/collections/grids/items/{G1}", params={"generation": 1}).json()
    now = client.get(f"/collections/grids/items/{G1}").json()
    assert old["geometry"]["coordinates"][0] != now["geometry"]["coordinates"][0]
    at = repo.generations()[0].created_at.isoformat()
    as_of = client.get("/collections/grids/items", params={"datetime": at, "households": 600}).json()
    assert as_of["numberMatched"] == 0
    assert client.post("/generations/1/revert", headers=auth(tokens, "planner_b")).status_code == 403
    r = client.post("/generations/1/revert", headers=auth(tokens))
    assert r.status_code == 200 and sorted(r.json()["reverted"]) == sorted({G1, G2, *micro})
    assert repo.get_feature("grids", G1)["households"] == 400 and len(repo.generations()) == 3


def test_root_validate_names_its_layer_in_the_body(api):
    client, _, _ = api
    feat = client.get(f"/collections/grids/items/{G1}").json()
    r = client.post("/validate", json={"layer": "grids", "type": "FeatureCollection", "features": [feat]})
    assert r.status_code == 200 and r.json() == {"valid": True, "problems": [], "checked": 1}
    assert client.post("/validate", json={"type": "FeatureCollection", "features": []}).status_code == 422


def test_geopackage_round_trip_over_http_previews_then_commits(api, tmp_path):
    import pyogrio
    from shapely.geometry import box as sbox

    client, tokens, repo = api
    r = client.get(f"/editing/communities/{A}.gpkg")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "a.gpkg"
    path.write_bytes(r.content)
    grids = pyogrio.read_dataframe(path, layer="grids")
    grids.loc[grids["code"] == G1, "geometry"] = [sbox(116.400, 39.900, 116.406, 39.910)]
    grids.loc[grids["code"] == G2, "geometry"] = [sbox(116.406, 39.900, 116.410, 39.910)]
    pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG")
    headers = {"content-type": "application/geopackage+sqlite3"}
    preview = client.post("/editing/import", content=path.read_bytes(), headers=headers).json()
    assert preview["valid"] is True and preview["stored"] is False
    assert sorted(f["properties"]["code"] for f in preview["changes"]["features"]) == [G1, G2]
    assert len(repo.generations()) == 1
    outside = client.post(
        "/editing/import?commit=true", content=path.read_bytes(), headers={**headers, **auth(tokens, "planner_b")}
    )
    assert outside.status_code == 403
    done = client.post("/editing/import?commit=true", content=path.read_bytes(), headers={**headers, **auth(tokens)})
    assert done.status_code == 200 and done.json()["stored"] is True and len(repo.generations()) == 2
    same = client.post("/editing/import?commit=true", content=path.read_bytes(), headers={**headers, **auth(tokens)})
    assert same.status_code == 200 and same.json()["changes"]["features"] == [] and same.json()["stored"] is False
    grids.loc[grids["code"] == G2, "name"] = "旧版本上的修改"
    pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG")
    stale = client.post("/editing/import?commit=true", content=path.read_bytes(), headers={**headers, **auth(tokens)})
    assert stale.status_code == 412 and len(repo.generations()) == 2


def test_a_dry_run_can_answer_its_impact_in_the_same_round_trip(api):
    """The web editor asks for the dry run and its impact (/viewer/impact) in one request."""
    client, tokens, repo = api
    body = {"grids": [G1, G2], "dry_run": True, "impact": True}
    r = client.post("/operations/merge-grids", json=body, headers=auth(tokens)).json()
    assert r["stored"] is False and len(repo.generations()) == 1
    separate = client.post("/viewer/impact", json={"changes": r["changes"]}, headers=auth(tokens)).json()
    assert r["impact"] == separate
    assert "households_out_of_range" in {f["properties"]["kind"] for f in r["impact"]["features"]}
    plain = client.post("/operations/merge-grids", json={**body, "impact": False}, headers=auth(tokens)).json()
    assert "impact" not in plain


def test_a_move_that_would_cut_the_neighbour_in_two_is_refused_naming_it(api):
    """The concurrency test's defect, made deterministic: a strip taken across G2, from G1 to the
    community's far edge, leaves G2 in a northern and a southern part; both border G1, so G1 (or
    G2) could take either. The one contiguity rule refuses it, naming G2; nothing is stored."""
    client, tokens, repo = api
    a = repo.get_feature("grids", G1)["geometry"]
    strip = {"type": "Polygon", "coordinates": [[[116.400, 39.900], [116.405, 39.900], [116.405, 39.904],
             [116.410, 39.904], [116.410, 39.905], [116.405, 39.905], [116.405, 39.910], [116.400, 39.910],
             [116.400, 39.900]]]}  # fmt: skip
    assert a.bounds == pytest.approx((116.400, 39.900, 116.405, 39.910))
    r = client.post("/operations/move-boundary", json={"a": G1, "b": G2, "geometry": strip}, headers=auth(tokens))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    found = [(p["kind"], p["feature"]) for p in r.json()["problems"]]
    assert ("disconnected", G2) in found, r.json()
    assert [g.id for g in repo.generations()] == [1]
    assert repo.get_feature("grids", G2)["version"] == 1
