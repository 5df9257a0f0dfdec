"""``gridgis check``: exit codes, JSON, the problems layer; and the demo's first step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.cli.demo import DemoContext
from gridgis.errors import NotFoundError

RELAXED = ["--grid-min", "0", "--grid-max", "1000", "--community-min", "500", "--community-max", "4000"]


def gridgis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from gridgis.cli import main; main()", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_code_is_1_when_there_are_problems_and_0_when_clean(sample_dir):
    found = gridgis("check", str(sample_dir))
    assert found.returncode == 1, found.stderr
    assert "社区户数超出范围" in found.stdout
    clean = CliRunner().invoke(app, ["check", str(sample_dir), *RELAXED])
    assert clean.exit_code == 0, clean.output
    assert "No problems" in clean.stdout


def test_a_missing_folder_is_a_clear_error_naming_it(tmp_path):
    res = CliRunner().invoke(app, ["check", str(tmp_path / "nowhere")])
    assert isinstance(res.exception, NotFoundError) and "nowhere is not a folder" in str(res.exception)


def test_json_report_and_problems_layer(sample_dir, tmp_path):
    out = tmp_path / "problems.gpkg"
    res = CliRunner().invoke(app, ["check", str(sample_dir), "--json", "--out", str(out)])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    assert report["ok"] is False and report["counts"]["community_households"] == 2
    layer = gpd.read_file(out)
    assert len(layer) == len(report["problems"]) and layer.crs.to_epsg() == 4326
    assert set(layer["code"]) >= {p["details"]["code"] for p in report["problems"]}


def test_grid_range_options_change_the_report(sample_dir):
    narrow = json.loads(CliRunner().invoke(app, ["check", str(sample_dir), "--json"]).stdout)
    wide = json.loads(
        CliRunner().invoke(app, ["check", str(sample_dir), "--json", "--grid-min", "100", "--grid-max", "900"]).stdout
    )
    assert narrow["counts"].get("grid_households", 0) > 0 and "grid_households" not in wide["counts"]
    assert wide["settings"]["grid_households"] == [100, 900]


def test_demo_step_loads_the_sample_city_into_the_store_and_reports(sample_dir, tmp_path):
    from gridgis.cli.check import demo
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'demo.db'}")
    repo.create_schema()
    ctx = DemoContext(repository=repo, data_dir=Path(sample_dir), out_dir=tmp_path / "out")
    demo(ctx)
    assert ctx.facts["layers"]["grids"] == repo.counts()["grids"] > 0
    assert ctx.facts["check"]["community_households"] == 2
    assert "generation" in ctx.facts
    assert (tmp_path / "out" / "hierarchy-problems.geojson").exists()
    # the same report from the store
    res = CliRunner().invoke(app, ["check", "--database-url", f"sqlite:///{tmp_path / 'demo.db'}", "--json"])
    assert res.exit_code == 1, res.output
    assert json.loads(res.stdout)["counts"] == ctx.facts["check"]


@pytest.mark.parametrize("bad", ["problems.csv"])
def test_out_must_be_geojson_or_geopackage(sample_dir, tmp_path, bad):
    res = CliRunner().invoke(app, ["check", str(sample_dir), "--out", str(tmp_path / bad)])
    assert res.exit_code != 0 and not (tmp_path / bad).exists()


def test_malformed_codes_and_a_grid_prefix_differing_from_its_community_are_reported(sample_dir, tmp_path):
    """`gridgis check` names the codes themselves, not only their consequences (orphans, gaps)."""
    import shutil

    city = tmp_path / "city"
    shutil.copytree(sample_dir, city)
    data = json.loads((city / "grids.geojson").read_text(encoding="utf-8"))
    first, second = data["features"][0]["properties"], data["features"][1]["properties"]
    bad_code, moved = first["code"][:14] + "X", second["code"]
    first["code"] = bad_code
    other = next(
        f["properties"]["community_code"]
        for f in data["features"]
        if f["properties"]["community_code"] != second["community_code"]
    )
    second["code"] = other + moved[12:]
    (city / "grids.geojson").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    res = CliRunner().invoke(app, ["check", str(city), "--json", *RELAXED])
    assert res.exit_code == 1, res.output
    report = json.loads(res.stdout)
    found = {(p["kind"], p["details"]["code"]) for p in report["problems"]}
    assert ("malformed_code", bad_code) in found
    assert ("parent_mismatch", other + moved[12:]) in found
