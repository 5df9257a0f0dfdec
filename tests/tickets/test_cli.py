"""``gridgis tickets …`` commands and the demo step, on a store with a synthetic city."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.cli.demo import DemoContext
from gridgis.sample.lattice import synthetic_city
from gridgis.storage import Repository


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    repo = Repository(url)
    repo.create_schema()
    city = synthetic_city(2, 2, micro=2, per_community=2)
    repo.write_city(city, author="t", message="city")
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", url)
    pts = [g.representative_point() for g in city["micro_grids"].geometry.iloc[:4]]
    rows = [
        {
            "id": f"T{i}",
            "matter_code": "M27",
            "title": "垃圾满溢",
            "description": "垃圾桶满了",
            "channel": "12345热线",
            "reported_at": f"2026-10-0{i + 1}T09:00:00+08:00",
            "address": "一号楼",
        }
        for i in range(4)
    ]
    frame = gpd.GeoDataFrame(rows, geometry=[shapely.Point(p.x, p.y) for p in pts], crs="EPSG:4326")
    path = tmp_path / "tickets.geojson"
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    yield repo, path, tmp_path
    repo.dispose()


def _repo_tickets(repo) -> int:
    import sqlalchemy as sa

    with repo.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one())


def test_import_stats_and_escalate_commands(env):
    _repo, path, _ = env
    runner = CliRunner()
    dry = runner.invoke(app, ["tickets", "import", str(path)])
    assert dry.exit_code == 0, dry.output
    assert "dry run: 4 tickets would be imported" in dry.output and _repo_tickets(_repo) == 0
    first = runner.invoke(app, ["tickets", "import", str(path), "--commit"])
    assert first.exit_code == 0, first.output
    assert "4 tickets imported" in first.output and _repo_tickets(_repo) == 4
    again = runner.invoke(app, ["tickets", "import", str(path), "--commit"])
    assert "0 tickets imported" in again.output and "already imported" in again.output
    stats = runner.invoke(app, ["tickets", "stats", "--month", "2026-10", "--json"])
    rows = json.loads(stats.output)
    assert sum(r["volume"] for r in rows) == 4 and all(r["month"] == "2026-10" for r in rows)
    dry = runner.invoke(app, ["tickets", "escalate", "--now", "2026-11-01T09:00:00+08:00"])
    assert "dry run: 4 tickets would be escalated" in dry.output  # a dry run unless --commit
    esc = runner.invoke(app, ["tickets", "escalate", "--now", "2026-11-01T09:00:00+08:00", "--commit"])
    assert "4 tickets escalated" in esc.output
    assert (
        "0 tickets escalated"
        in runner.invoke(app, ["tickets", "escalate", "--now", "2026-11-01T09:00:00+08:00", "--commit"]).output
    )
    shown = json.loads(runner.invoke(app, ["tickets", "show", "1"]).output)
    assert [e["action"] for e in shown["events"]] == ["create", "escalate"]


def test_matters_command_lists_28_items():
    out = CliRunner().invoke(app, ["tickets", "matters"]).output
    assert "M01" in out and "M28" in out and "城管执法中队" in out


def test_demo_step_imports_runs_the_loop_and_records_facts(env):
    repo, path, tmp = env
    data = tmp / "data"
    data.mkdir()
    (data / "tickets.geojson").write_bytes(Path(path).read_bytes())
    ctx = DemoContext(repository=repo, data_dir=data, out_dir=tmp / "out")
    from gridgis.cli.tickets import demo

    demo(ctx)
    facts = ctx.facts["tickets"]
    assert facts["imported"] == 4 and facts["escalated_again"] == 0
    assert facts["simulated"]["steps"] > 0 and facts["grid_months"] >= 1
