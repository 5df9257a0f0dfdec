"""The GeoPackage round trip and tokens through the CLI, on a SQLite store."""

from __future__ import annotations

import pyogrio
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from gridgis.auth.store import TokenStore
from gridgis.cli import app
from gridgis.editing.testing import seeded_repository
from gridgis.storage.model import FeatureChange

A = "110105001001"
G1, G2 = A + "001", A + "002"
runner = CliRunner()


@pytest.fixture()
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    repo = seeded_repository(url)
    yield url, repo
    repo.dispose()


def _export(url, path):
    r = runner.invoke(app, ["edit", "export-community", A, "--out", str(path), "--database-url", url])
    assert r.exit_code == 0, r.output
    return {layer: pyogrio.read_dataframe(path, layer=layer) for layer in ("grids", "micro_grids")}


def test_token_create_prints_a_token_that_is_stored_only_as_a_hash(store):
    url, repo = store
    r = runner.invoke(
        app, ["token", "create", "--name", "王规划", "--role", "planner", "--scope", "110105001000", "--database-url", url]
    )
    assert r.exit_code == 0, r.output
    token = next(line for line in r.output.splitlines() if line.startswith("ggt_"))
    assert TokenStore(repo.engine).authenticate(token).scopes == ("110105001000",)
    with repo.engine.connect() as conn:
        dump = "\n".join(str(tuple(row)) for row in conn.exec_driver_sql("SELECT * FROM auth_tokens"))
    assert token.split(".")[1] not in dump
    bad = runner.invoke(app, ["token", "create", "--name", "x", "--role", "planner", "--database-url", url])
    assert bad.exit_code != 0


def test_an_edited_export_is_shown_validated_and_stored_only_with_commit(store, tmp_path):
    url, repo = store
    path = tmp_path / "a.gpkg"
    frames = _export(url, path)
    grids = frames["grids"]
    grids.loc[grids["code"] == G1, "geometry"] = [box(116.400, 39.900, 116.406, 39.910)]
    grids.loc[grids["code"] == G2, "geometry"] = [box(116.406, 39.900, 116.410, 39.910)]
    grids.loc[grids["code"] == G2, "name"] = "多福巷二网格（调整）"
    pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG")
    dry = runner.invoke(app, ["edit", "import", str(path), "--message", "调整", "--database-url", url])
    assert dry.exit_code == 0, dry.output
    assert "valid" in dry.output and G1 in dry.output and "dry run" in dry.output
    assert len(repo.generations()) == 1
    done = runner.invoke(
        app, ["edit", "import", str(path), "--message", "调整", "--commit", "--author", "王规划", "--database-url", url]
    )
    assert done.exit_code == 0, done.output
    gen = repo.current_generation()
    assert (gen.id, gen.author, gen.message) == (2, "王规划", "调整")
    assert repo.get_feature("grids", G2)["name"] == "多福巷二网格（调整）"


def test_an_invalid_edit_lists_its_problems_and_cannot_be_committed(store, tmp_path):
    url, repo = store
    path = tmp_path / "a.gpkg"
    grids = _export(url, path)["grids"]
    grids.loc[grids["code"] == G2, "geometry"] = [box(116.406, 39.900, 116.410, 39.910)]
    pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG")
    dry = runner.invoke(app, ["edit", "import", str(path), "--message", "x", "--database-url", url])
    assert dry.exit_code == 1 and "gap" in dry.output
    done = runner.invoke(app, ["edit", "import", str(path), "--message", "x", "--commit", "--database-url", url])
    assert done.exit_code != 0 and len(repo.generations()) == 1


def test_a_feature_changed_since_the_export_is_reported_stale(store, tmp_path):
    url, repo = store
    path = tmp_path / "a.gpkg"
    grids = _export(url, path)["grids"]
    repo.apply_changes([FeatureChange("grids", "replace", G1, {"population": 7}, None, 1)], author="李", message="m")
    grids.loc[grids["code"] == G1, "name"] = "改名"
    pyogrio.write_dataframe(grids, path, layer="grids", driver="GPKG")
    dry = runner.invoke(app, ["edit", "import", str(path), "--message", "x", "--database-url", url])
    assert dry.exit_code == 1 and "stale" in dry.output
    assert repo.get_feature("grids", G1)["name"] == "多福巷第一网格"


def test_the_demo_step_moves_reverts_and_exports(store, tmp_path):
    from gridgis.cli.demo import DemoContext
    from gridgis.cli.editing import demo

    _, repo = store
    ctx = DemoContext(repository=repo, data_dir=tmp_path, out_dir=tmp_path)
    demo(ctx)
    assert ctx.facts["editing"]["generation"] == 2 and ctx.facts["editing"]["features"] >= 2
    assert len(repo.generations()) == 3 and repo.diff(1, 3).empty
    assert (tmp_path / f"community-{A}.gpkg").exists()
