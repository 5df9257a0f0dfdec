"""``gridgis align analyze|propose|apply`` and ``gridgis microgrid split`` on files and on a store."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from alignment_synth import COMMUNITY, city
from typer.testing import CliRunner

from gridgis.cli import app


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("align_cli")
    c = city(per_building=5)
    paths = {}
    for layer in ("compounds", "grids", "buildings", "communities"):
        paths[layer] = d / f"{layer}.geojson"
        c[layer].to_file(paths[layer], driver="GeoJSON")
    # a GeoPackage too: planners export from QGIS in either
    paths["grids_gpkg"] = d / "grids.gpkg"
    c["grids"].to_file(paths["grids_gpkg"], driver="GPKG")
    return d, paths, c


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result


def test_propose_on_files_writes_grids_changes_and_report(files):
    d, p, c = files
    out = d / "proposal"
    r = invoke(
        "align",
        "propose",
        "--compounds",
        p["compounds"],
        "--grids",
        p["grids_gpkg"],
        "--buildings",
        p["buildings"],
        "--communities",
        p["communities"],
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    grids = gpd.read_file(out / "grids.geojson")
    assert sorted(grids["code"]) == sorted(c["grids"]["code"])
    assert shapely.coverage_is_valid(grids.to_crs("EPSG:4548").geometry.values)
    changes = gpd.read_file(out / "changes.geojson")
    assert {"from_grid", "to_grid", "area_m2", "households"} <= set(changes.columns) and len(changes)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["city"]["small_cut_compounds_before"] == 4 and report["city"]["small_cut_compounds_after"] == 0
    assert report["impact"] and "被切割" in r.output


def test_propose_without_communities_covers_the_union_of_grids(files):
    d, p, _ = files
    out = d / "nocomm"
    r = invoke("align", "propose", "--compounds", p["compounds"], "--grids", p["grids"], "--out", out)
    assert r.exit_code == 0, r.output
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["coverage_after"]["ok"] is True


def test_analyze_writes_report_and_problems(files):
    d, p, _ = files
    out = d / "analysis"
    r = invoke(
        "align",
        "analyze",
        "--compounds",
        p["compounds"],
        "--grids",
        p["grids"],
        "--buildings",
        p["buildings"],
        "--out",
        out,
        "--json",
    )
    assert r.exit_code == 0, r.output
    problems = gpd.read_file(out / "problems.geojson")
    assert len(problems) == 4 and set(problems["kind"]) <= {"cut_piece", "minor_piece"}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["city"]["cut_compounds"] == 4
    assert len(report["communities"][0]["cut_compound_list"]) == 4


def test_microgrid_split_on_files(files):
    d, p, _ = files
    out = d / "micro"
    r = invoke("microgrid", "split", "--grids", p["grids"], "--buildings", p["buildings"], "--out", out)
    assert r.exit_code == 0, r.output
    micro = gpd.read_file(out / "micro_grids.geojson")
    assert micro["code"].str.len().eq(17).all() and micro["households"].sum() == 1005


def test_apply_on_the_store_is_a_dry_run_until_commit(files, tmp_path):
    from gridgis.storage import Repository

    _, _, c = files
    url = f"sqlite:///{tmp_path / 'store.db'}"
    repo = Repository(url)
    repo.create_schema()
    streets = gpd.GeoDataFrame(
        {"code": ["110105001000"], "name": ["测试街道"]}, geometry=[c["communities"].geometry.iloc[0]], crs="EPSG:4326"
    )
    repo.write_city({"streets": streets, **c}, author="test", message="load")
    before = len(repo.generations())
    r = invoke("align", "apply", "--community", COMMUNITY, "--database-url", url, "--author", "规划员")
    assert r.exit_code == 0, r.output
    assert "dry run" in r.output and len(repo.generations()) == before
    assert "micro-grids of the changed grids" in r.output and not len(repo.read_layer("micro_grids"))
    r = invoke("align", "apply", "--community", COMMUNITY, "--database-url", url, "--author", "规划员", "--commit")
    assert r.exit_code == 0, r.output
    assert len(repo.generations()) == before + 1 and len(repo.read_layer("micro_grids"))
    from gridgis.auth.store import AuditLog

    entry = AuditLog(repo.engine).entries(limit=1)[0]  # one write path: stored by the editing service, audited
    assert entry["action"] == "align-apply" and entry["principal"] == "规划员"
    assert entry["generation"] == repo.current_generation().id
    r = invoke("align", "analyze", "--database-url", url, "--community", COMMUNITY, "--out", tmp_path / "a", "--json")
    assert json.loads((tmp_path / "a" / "report.json").read_text(encoding="utf-8"))["city"]["small_cut_compounds"] == 0


def test_missing_file_is_a_clear_error(files):
    from gridgis.errors import NotFoundError

    d, p, _ = files
    with pytest.raises(NotFoundError):
        invoke("align", "analyze", "--compounds", d / "nope.geojson", "--grids", p["grids"], "--out", d / "x")


def test_party_command_writes_tree_and_table(files):
    d, p, _ = files
    out = d / "party"
    r = invoke(
        "align",
        "party",
        "--compounds",
        p["compounds"],
        "--grids",
        p["grids"],
        "--buildings",
        p["buildings"],
        "--communities",
        p["communities"],
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    trees = json.loads((out / "party.json").read_text(encoding="utf-8"))["communities"]
    assert trees[0]["label"] == "社区党委"
    assert "楼栋党小组" in (out / "party.csv").read_text(encoding="utf-8-sig")


def test_analyze_can_write_a_geopackage(files):
    d, p, _ = files
    out = d / "gpkg"
    r = invoke("align", "analyze", "--compounds", p["compounds"], "--grids", p["grids"], "--out", out, "--gpkg")
    assert r.exit_code == 0, r.output
    assert len(gpd.read_file(out / "problems.gpkg")) == 4


def test_propose_splits_an_overfull_grid_unless_told_not_to(tmp_path):
    quads = [(20, 20, 280, 280), (320, 20, 580, 280), (20, 320, 280, 580), (320, 320, 580, 580)]
    c = city(strips=[], rects=quads, per_building=3)  # one grid of 768 households
    paths = {}
    for layer in ("compounds", "grids", "buildings", "communities"):
        paths[layer] = tmp_path / f"{layer}.geojson"
        c[layer].to_file(paths[layer], driver="GeoJSON")
    args = [
        "align",
        "propose",
        "--compounds",
        paths["compounds"],
        "--grids",
        paths["grids"],
        "--buildings",
        paths["buildings"],
        "--communities",
        paths["communities"],
    ]
    r = invoke(*args, "--out", tmp_path / "split")
    assert r.exit_code == 0, r.output
    assert sorted(gpd.read_file(tmp_path / "split" / "grids.geojson")["code"]) == [f"{COMMUNITY}001", f"{COMMUNITY}002"]
    report = json.loads((tmp_path / "split" / "report.json").read_text(encoding="utf-8"))
    assert report["city"]["grids_split"] == 1 and report["restructured"][0]["new_grid"] == f"{COMMUNITY}002"
    r = invoke(*args, "--out", tmp_path / "whole", "--no-split-merge")
    assert r.exit_code == 0, r.output
    assert list(gpd.read_file(tmp_path / "whole" / "grids.geojson")["code"]) == [f"{COMMUNITY}001"]


def test_the_crs_of_the_files_is_never_guessed(files, tmp_path):
    """Seen: ``align``/``microgrid`` defaulted --crs to wgs84 whatever the files said."""
    _, p, c = files
    bare = tmp_path / "grids.shp"  # a Shapefile without its .prj says nothing about its CRS
    c["grids"].set_crs(None, allow_override=True).to_file(bare)
    bare.with_suffix(".prj").unlink(missing_ok=True)
    r = CliRunner().invoke(
        app,
        ["align", "analyze", "--compounds", str(p["compounds"]), "--grids", str(bare), "--out", str(tmp_path / "a")],
    )
    assert r.exit_code != 0 and "none was given" in str(r.exception)
    ok = CliRunner().invoke(
        app,
        [
            "align",
            "analyze",
            "--compounds",
            str(p["compounds"]),
            "--grids",
            str(p["grids_gpkg"]),
            "--out",
            str(tmp_path / "b"),
        ],
    )
    assert ok.exit_code == 0, ok.output  # GeoJSON (RFC 7946) and a GeoPackage say their own
