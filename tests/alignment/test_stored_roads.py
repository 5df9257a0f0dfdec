"""Roads stored as a reference layer (gridgis/storage/roads.py): imported with ``gridgis import --layer
roads``, exported like the layers, and used by every path that aligns a stored city, so the planner
in the browser (API) and the district staff on the CLI get the same proposal of the same city.

The real case is Lujiazui from OpenStreetMap (tests/alignment/lujiazui.py) with its OSM roads file.
"""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from gridgis.alignment.propose import propose_alignment
from gridgis.alignment.roads import read_roads
from gridgis.cli import app
from gridgis.codes import area_of
from tests.alignment import lujiazui

needs_data = pytest.mark.skipif(not lujiazui.available(), reason="../shared/data/shanghai-lujiazui-osm-tiles absent")
ROADS = lujiazui.DATA / "roads.geojson"
COMMUNITY = "310115004902"
STREET = "310115004000"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def storable_case() -> dict[str, gpd.GeoDataFrame]:
    """The Lujiazui case with the fields the store requires (street, compound kind, building codes)."""
    case = lujiazui.make_case(angle=17.0)
    communities = case["communities"].assign(street_code=STREET)
    compounds = case["compounds"].assign(
        community_code=[area_of(c) for c in case["compounds"]["code"]],
        kind="residential",
        households=case["compounds"]["households"],
    )
    b = case["buildings"]
    holder = shapely.STRtree(compounds.geometry.values)
    pts = shapely.point_on_surface(b.geometry.values)
    bi, ci = holder.query(pts, predicate="within")
    first = {int(i): int(c) for i, c in zip(bi[::-1], ci[::-1])}  # the lowest compound holding each point
    keep = sorted(first)
    comp_code = [compounds["code"].iat[first[i]] for i in keep]
    seq: dict[str, int] = {}
    codes = []
    for c in comp_code:
        seq[c] = seq.get(c, 0) + 1
        codes.append(f"{c}B{seq[c]:03d}")
    buildings = gpd.GeoDataFrame(
        {
            "code": codes,
            "name": [f"{n}号楼" for n in range(1, len(codes) + 1)],
            "compound_code": comp_code,
            "community_code": [area_of(c) for c in comp_code],
            "households": b["households"].to_numpy()[keep],
        },
        geometry=list(b.geometry.values[keep]),
        crs="EPSG:4326",
    )
    streets = gpd.GeoDataFrame(
        {"code": [STREET], "name": ["潍坊新村街道"]}, geometry=[communities.union_all()], crs="EPSG:4326"
    )
    return {
        "streets": streets,
        "communities": communities,
        "compounds": compounds,
        "buildings": buildings,
        "grids": case["grids"],
    }


@pytest.fixture(scope="module")
def case():
    if not lujiazui.available():
        pytest.skip("../shared/data/shanghai-lujiazui-osm-tiles absent")
    return storable_case()


def _store(repo, case):
    repo.write_city(case, author="测试", message="陆家嘴")
    return repo


def _same_grids(answer: list[dict], frame: gpd.GeoDataFrame, tolerance: float = 1e-9) -> bool:
    """The same grids: the same codes, the same vertices (``tolerance`` 1e-9°), or for a file (written
    with the 7 decimals of the storage step, which may repeat a vertex) outlines within ``tolerance``."""
    got = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in answer}
    want = dict(zip(frame["code"], frame.geometry))
    if set(got) != set(want):
        return False
    if tolerance <= 1e-9:
        return all(shapely.equals_exact(got[c], want[c], tolerance) for c in want)
    return all(shapely.hausdorff_distance(got[c], want[c]) <= tolerance for c in want)


@needs_data
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_the_api_proposal_on_a_store_holding_roads_equals_the_library_with_the_roads_file(
    make_repository, case, backend, tmp_path
):
    from gridgis.alignment.apply import apply_proposal, load_community
    from tests.alignment.test_api import serve

    repo = _store(make_repository(backend), case)
    r = invoke("import", ROADS, "--layer", "roads", "--database-url", repo.url, "--commit", "--author", "测绘员")
    assert r.exit_code == 0, r.output
    layers = load_community(repo, COMMUNITY)
    args = (layers["compounds"], layers["grids"], layers["buildings"], layers["communities"])
    from_file = propose_alignment(*args, roads=read_roads(ROADS), workers=1)
    without = propose_alignment(*args, workers=1)
    # the roads matter here: without them the lines differ
    assert not all(shapely.equals_exact(a, b, 1e-9) for a, b in zip(from_file.grids.geometry, without.grids.geometry))
    with serve(repo) as url, httpx.Client(base_url=url, timeout=300) as client:
        answer = client.post(f"/communities/{COMMUNITY}/alignment/proposal")
        assert answer.status_code == 200, answer.text
        assert _same_grids(answer.json()["grids"]["features"], from_file.grids)
        assert answer.json()["roads"]["roads"] == len(read_roads(ROADS))
        # the dry run of apply proposes the same
        dry = client.post(f"/communities/{COMMUNITY}/alignment/apply", json={}).json()
    expected = apply_proposal(repo, COMMUNITY, from_file, "测试", commit=False).to_dict()
    assert dry["changes"] and dry["changes"] == json.loads(json.dumps(expected["changes"], default=str))
    # the CLI on the same store proposes the same (without --roads: the stored roads), for propose and apply
    for command in ("propose", "apply"):
        out = tmp_path / command
        r = invoke("align", command, "--database-url", repo.url, "--community", COMMUNITY, "--out", out)
        assert r.exit_code == 0, r.output
        cli = json.loads((out / "grids.geojson").read_text(encoding="utf-8"))["features"]
        assert _same_grids(cli, from_file.grids, 1e-7), command
    # the batch job of the county (gridgis batch align) aligns along the stored roads too: the same as
    # the library over the county's layers with the file's roads (a county, not one community: a
    # compound crossing the community line is seen whole there, so it is compared with its own input)
    from gridgis.scale.batch import align_task

    county = {k: repo.read_layer(k) for k in ("compounds", "grids", "buildings", "communities")}
    whole = propose_alignment(*county.values(), roads=read_roads(ROADS), workers=1)
    batch = align_task(repo.url, repo.current_generation().id, "310115")
    assert _same_grids(json.loads(batch.grids.to_json(drop_id=True))["features"], whole.grids)
    # and the /map viewer's alignment view (the whole stored city; drawn with 7 decimals)
    from gridgis.maps.viewer import view

    drawn = view(repo, "alignment")["proposed_grids"]["features"]
    assert _same_grids(drawn, whole.grids, 1e-7)


@needs_data
def test_cli_roads_file_overrides_the_stored_roads(make_repository, case, tmp_path):
    from gridgis.alignment.apply import load_community

    repo = _store(make_repository("sqlite"), case)
    assert invoke("import", ROADS, "--layer", "roads", "--database-url", repo.url, "--commit").exit_code == 0
    footways = read_roads(ROADS)
    footways = footways[footways["kind_detail"] == "footway"]  # rank 9: cut no land
    footways.to_file(tmp_path / "footways.geojson", driver="GeoJSON")
    out = tmp_path / "out"
    r = invoke(
        "align", "propose", "--database-url", repo.url, "--community", COMMUNITY, "--out", out,
        "--roads", tmp_path / "footways.geojson",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    layers = load_community(repo, COMMUNITY)
    plain = propose_alignment(layers["compounds"], layers["grids"], layers["buildings"], layers["communities"])
    assert _same_grids(json.loads((out / "grids.geojson").read_text(encoding="utf-8"))["features"], plain.grids, 1e-7)


@needs_data
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_a_roads_import_keeps_chinese_names_replaces_the_set_is_audited_and_exports(make_repository, backend, tmp_path):
    from gridgis.auth.store import AuditLog
    from gridgis.storage.roads import RoadStore

    repo = make_repository(backend)
    store = RoadStore(repo)
    assert store.current() is None and store.read() is None
    r = invoke("import", ROADS, "--layer", "roads", "--database-url", repo.url)
    assert r.exit_code == 0 and "dry run" in r.output and store.current() is None
    r = invoke("import", ROADS, "--layer", "roads", "--database-url", repo.url, "--commit", "--author", "测绘员")
    assert r.exit_code == 0, r.output
    source = read_roads(ROADS)
    stored = store.read()
    assert len(stored) == len(source) and store.current().roads == len(source)
    assert "丰和路" in set(stored["name"].dropna())
    assert stored["name"].fillna("").tolist() == source["name"].fillna("").tolist()
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(stored.geometry, source.geometry))
    entry = AuditLog(repo.engine).entries(limit=1)[0]
    assert entry["action"] == "roads.import" and entry["principal"] == "测绘员"
    # a second import replaces the set (no duplicates), and the log keeps both
    few = source.iloc[:10]
    few.to_file(tmp_path / "few.geojson", driver="GeoJSON")
    assert (
        invoke("import", tmp_path / "few.geojson", "--layer", "roads", "--database-url", repo.url, "--commit").exit_code
        == 0
    )
    assert len(store.read()) == 10 and [i.roads for i in store.imports()] == [len(source), 10]
    # a box reads only the roads that meet it
    x0, y0, x1, y1 = few.geometry.iloc[0].bounds
    near = store.read((x0, y0, x1, y1))
    assert 1 <= len(near) <= 10
    # listed by `gridgis info` (the store needs a generation to describe)
    from gridgis.io.info import describe_store

    repo.write_city({"streets": gpd.GeoDataFrame({"code": [STREET], "name": ["潍坊新村街道"]},
                     geometry=[shapely.box(121.50, 31.23, 121.52, 31.25)], crs="EPSG:4326")}, author="测试")  # fmt: skip
    listed = {r["layer"]: r for r in describe_store(repo)[0]}
    assert listed["roads"]["count"] == 10
    # exported like the layers, names kept
    r = invoke("export", "--layer", "roads", "--out", tmp_path / "roads_out.geojson", "--database-url", repo.url)
    assert r.exit_code == 0, r.output
    back = gpd.read_file(tmp_path / "roads_out.geojson")
    assert len(back) == 10 and back["name"].fillna("").tolist() == few["name"].fillna("").tolist()


def test_a_roads_file_without_crs_is_refused_in_one_line_and_nothing_is_stored(tmp_path):
    from gridgis.storage import Repository
    from gridgis.storage.roads import RoadStore

    gpd.GeoDataFrame(
        {"name": ["世纪大道"], "kind": ["major_road"]},
        geometry=[shapely.LineString([(121.51, 31.23), (121.52, 31.24)])],
    ).to_file(tmp_path / "roads.shp")
    assert not (tmp_path / "roads.prj").exists()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    res = subprocess.run(
        [sys.executable, "-m", "gridgis.cli", "import", str(tmp_path / "roads.shp"), "--layer", "roads",
         "--database-url", url, "--commit"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "roads.shp" in lines[0] and "CRS" in lines[0], res.stderr
    repo = Repository(url)
    try:
        repo.create_schema()
        assert RoadStore(repo).current() is None
    finally:
        repo.dispose()


def test_roads_that_are_no_lines_or_lie_outside_china_are_refused_naming_the_row(make_repository):
    from gridgis.errors import ValidationError
    from gridgis.storage.roads import RoadStore

    repo = make_repository("sqlite")
    bad = gpd.GeoDataFrame(
        {"name": ["世纪大道", "广场", "错位路"]},
        geometry=[
            shapely.LineString([(121.51, 31.23), (121.52, 31.24)]),
            shapely.box(121.51, 31.23, 121.52, 31.24),
            shapely.LineString([(31.23, 121.51), (31.24, 121.52)]),
        ],
        crs="EPSG:4326",
    )
    with pytest.raises(ValidationError) as err:
        RoadStore(repo).replace(bad, "测绘员")
    assert [(p.feature, p.kind) for p in err.value.problems] == [
        ("row 2 (广场)", "wrong_geometry_type"),
        ("row 3 (错位路)", "out_of_area"),
    ]
    assert RoadStore(repo).current() is None


def test_the_stored_roads_of_a_box_give_the_same_cut_lines_as_all_of_them(make_repository):
    """Reading only the roads around a community (stored_roads) changes no line that meets it."""
    if not lujiazui.available():
        pytest.skip("../shared/data/shanghai-lujiazui-osm-tiles absent")
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.roads import road_cut_lines, roads_near, stored_roads
    from gridgis.storage.roads import RoadStore

    repo = make_repository("sqlite")
    source = read_roads(ROADS)
    RoadStore(repo).replace(source, "测绘员", source=ROADS.name)
    case = lujiazui.make_case(windows={COMMUNITY: lujiazui.WINDOWS[COMMUNITY]})
    near = stored_roads(repo, case["communities"])
    assert 0 < len(near) < len(source)
    area = shapely.segmentize(case["communities"].to_crs(lujiazui.METRIC).geometry.iloc[0], 5.0)
    cfg = AlignmentConfig()
    a = roads_near(road_cut_lines(source, lujiazui.METRIC, cfg), area)
    b = roads_near(road_cut_lines(near, lujiazui.METRIC, cfg), area)
    assert len(a) == len(b) > 0 and all(shapely.equals_exact(x, y, 0) for x, y in zip(a, b))
    assert np.all(shapely.intersects(b, area))
