"""The people commands as a user runs them (a subprocess of ``gridgis``), on a copy of the small-city store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

B1 = "310115001001Q001B001"


def run(*args: str):
    """In-process (the commands share one interpreter, so numba and the imports load once)."""
    from typer.testing import CliRunner

    from gridgis.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _count(url: str, table: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def gridgis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from gridgis.cli import main; main()", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
        timeout=600,
    )


@pytest.fixture
def db(people_template, tmp_path):
    path = tmp_path / "cli.db"
    shutil.copyfile(people_template, path)
    return f"sqlite:///{path}"


def test_members_import_coverage_roster_and_intake(db, tmp_path):
    roll = tmp_path / "名册.csv"
    roll.write_text(
        "姓名,类别,住址,楼栋,单元,电话,岗位\n"
        f"王伟,在职党员,,{B1},1,13800001111,防汛值守\n"
        "张三,流动党员,火星路1号,,,,\n"
        "李娜,志愿者,梅园一村2号楼,,2,13800002222,物资配送\n",
        encoding="utf-8",
    )
    r = run("members", "import", str(roll), "--database-url", db)  # a dry run
    assert r.exit_code == 0, r.output
    assert "dry run: would import 3 persons" in r.output and "2 placed, 1 unplaced" in r.output
    assert _count(db, "people_persons") == 0
    r = run("members", "import", str(roll), "--database-url", db, "--commit")
    assert r.exit_code == 0, r.output
    assert "imported 3 persons" in r.output and "2 placed, 1 unplaced" in r.output and "unplaced row 3 张三" in r.output

    r = run("people", "coverage", "--json", "--database-url", db)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["buildings"] == 6 and report["share_covered"] == 0 and len(report["micro_grids_without_worker"]) == 12

    out = tmp_path / "roster.xlsx"
    r = run("roster", "--area", "310115001001", "--kind", "flood", "--out", str(out), "--database-url", db)
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:2] == b"PK" and "members 1" in r.output and "volunteers 1" in r.output

    orders = tmp_path / "12345.csv"
    orders.write_text(
        "工单编号,来电时间,诉求内容,诉求地址,联系电话,类别\n"
        "A001,2026-09-30 10:15:00,楼道电动车充电,梅园一村2号楼,13800001111,电动车\n"
        "A002,2026-09-30 11:15:00,噪音,火星路1号,,噪声扰民\n",
        encoding="utf-8",
    )
    r = run("intake", "import", str(orders), "--database-url", db)  # a dry run
    assert r.exit_code == 0, r.output
    assert "dry run: 1 tickets would be created, 1 queued" in r.output and _count(db, "people_intake") == 0
    r = run("intake", "import", str(orders), "--database-url", db, "--commit")
    assert r.exit_code == 0, r.output
    assert "1 tickets created, 1 queued" in r.output
    r = run("intake", "import", str(orders), "--database-url", db, "--commit")
    assert "0 tickets created, 0 queued for a person, 2 already imported" in r.output

    r = run("people", "follow", "--database-url", db)  # after a boundary edit; a dry run without --commit
    assert r.exit_code == 0 and r.output.startswith("dry run") and "buildings moved" in r.output, r.output
    r = run("people", "follow", "--database-url", db, "--commit")
    assert r.exit_code == 0 and not r.output.startswith("dry run"), r.output

    r = run("people", "care", "--area", "310115001001", "--database-url", db)
    assert r.exit_code == 0 and "0 records" in r.output
    from gridgis.auth.store import AuditLog
    from gridgis.storage import Repository

    repo = Repository(db)
    actions = {e["action"] for e in AuditLog(repo.engine).entries(limit=50)}
    repo.dispose()
    assert {"members-import", "export-roster", "intake-import", "read-care"} <= actions


def test_a_bad_file_is_one_line_error(db, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("名字,电话\n王,1\n", encoding="utf-8")
    r = gridgis("members", "import", str(f), "--database-url", db)
    assert r.returncode == 2 and "姓名" in r.stderr and "Traceback" not in r.stderr
    r = gridgis(
        "roster", "--area", "310115001001", "--kind", "zombies", "--out", str(tmp_path / "r.xlsx"), "--database-url", db
    )
    assert r.returncode == 2 and "unknown emergency kind" in r.stderr and "Traceback" not in r.stderr


def test_orgs_assignments_wishes_and_door_knocking_from_the_command_line(db):
    r = run("org-add", "--database-url", db)  # not a command: typer usage error, nothing changed
    assert r.exit_code != 0
    r = run(
        "people",
        "org-add",
        "--kind",
        "cobuilding_unit",
        "--name",
        "区卫健委",
        "--community",
        "310115001001",
        "--database-url",
        db,
    )
    assert r.exit_code == 0 and "区卫健委" in r.output, r.output
    from gridgis.people.store import PeopleStore, org_code_for
    from gridgis.storage import Repository

    repo = Repository(db)
    store = PeopleStore(repo)
    pid = store.add_persons([store.person_row(name="王伟", category="在职党员", building_code=B1, unit=1)])[0]
    group = org_code_for("building_group", extra=B1)
    r = run("people", "org-edit", group, "--name", "一号楼党小组", "--database-url", db)
    assert r.exit_code == 0 and store.org(group)["source"] == "edited"
    r = run("people", "assign", str(pid), "unit", f"{B1}-U1", "--database-url", db)
    assert r.exit_code == 0 and "answers for" in r.output
    r = run("people", "wish", "--title", "更换灯泡", "--building", B1, "--database-url", db)
    assert r.exit_code == 0 and "nearest: 王伟" in r.output, r.output
    wid = int(r.output.split("wish ")[1].split()[0])
    for action in ("dispatch",):
        assert run("people", "wish-move", str(wid), action, "--database-url", db).exit_code == 0
    r = run("people", "wish-move", str(wid), "claim", "--person", str(pid), "--database-url", db)
    assert "claimed" in r.output
    mg = store.person(pid)["micro_grid_code"]
    r = run("people", "knock", "--micro-grid", mg, "--database-url", db)
    assert r.exit_code == 0 and f"{mg}: 0/" in r.output
    repo.dispose()


def test_the_population_file_round_trips_and_the_demo_step_loads_it(db, small_city, tmp_path):
    """``gridgis sample-city`` writes the population next to the city; the demo step loads that file and
    reports the people figures (coverage, wishes, points, indices, roster)."""
    from gridgis.cli.demo import DemoContext
    from gridgis.cli.people import demo
    from gridgis.people.store import PeopleStore
    from gridgis.sample.population import POPULATION_FILE, generate_population, read_population, write_population
    from gridgis.storage import Repository

    pop = generate_population(small_city, seed=0)
    path = write_population(pop, tmp_path / POPULATION_FILE)
    first = path.read_bytes()
    assert write_population(generate_population(small_city, seed=0), tmp_path / "again.json").read_bytes() == first
    back = read_population(path)
    assert back.counts() == pop.counts() and back.persons == pop.persons and back.activities == pop.activities
    repo = Repository(db)
    ctx = DemoContext(repository=repo, data_dir=tmp_path, out_dir=tmp_path / "out")
    (tmp_path / "out").mkdir()
    demo(ctx)
    assert ctx.facts["people"]["persons"] == len(pop.persons) and 0 < ctx.facts["people_share_covered"] <= 1
    assert (tmp_path / "out" / "roster.html").exists() and (tmp_path / "out" / "roster.xlsx").exists()
    moved = ctx.facts["people_follow"]  # the demo hands a building to another grid: its people follow
    assert moved["persons"] >= 1
    residents = PeopleStore(repo).persons_frame(building_codes=[moved["building"]])
    assert set(residents["grid_code"]) == {moved["to"]}
    repo.dispose()
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    res = gridgis("people", "sample", "--file", str(bad), "--database-url", db)
    assert res.returncode != 0 and "not a population file" in res.stderr + res.stdout


def test_points_ledger_per_organisation_and_the_indices_chart_from_the_command_line(db, tmp_path):
    """一季一评星 per organisation (with its sub-organisations), exported pseudonymised; the four indices'
    table and bar chart; both exports audited."""
    import pandas as pd
    import sqlalchemy as sa

    assert run("people", "sample", "--database-url", db, "--commit").exit_code == 0
    from gridgis.people.store import PeopleStore
    from gridgis.storage import Repository

    repo = Repository(db)
    store = PeopleStore(repo)
    committee = next(o["code"] for o in store.orgs(kind="community_committee"))
    ledger = tmp_path / "ledger.csv"
    r = run(
        "people", "points", "--period", "2026Q3", "--org", committee, "--out", str(ledger), "--pseudonymise",
        "--database-url", db,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(ledger)
    assert len(rows) > 0 and rows["name"].str.startswith("P-").all() and "stars" in rows.columns
    members = {p["name"] for p in store.persons(kind="member")}
    assert not members & set(rows["name"])
    chart, table = tmp_path / "indices.svg", tmp_path / "indices.csv"
    r = run("people", "assess", "--period", "2026Q3", "--chart", str(chart), "--out", str(table), "--database-url", db)
    assert r.exit_code == 0, r.output
    assert chart.read_text(encoding="utf-8").startswith("<svg") and "safety" in pd.read_csv(table).columns
    with repo.engine.connect() as conn:
        actions = set(conn.execute(sa.text("SELECT action FROM audit_log")).scalars())
    assert {"export-points", "export-assessment", "people-sample"} <= actions
    repo.dispose()
