"""Tickets partitioned by month on PostgreSQL: the migration moves existing rows, months get their
partition as tickets arrive, a month's statistics read one partition, retention archives old months."""

from __future__ import annotations

import gzip
import json

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from gridgis.auth.store import AuditLog
from gridgis.errors import ValidationError
from gridgis.storage import Repository
from gridgis.storage.partitions import DEFAULT_PARTITION, is_partitioned, month_partitions, restore, retention
from gridgis.storage.repository import MIGRATIONS
from gridgis.tickets.store import TicketStore
from gridgis.tickets.tables import ticket_events, tickets
from tests.tickets.conftest import point_in, sh


def _upgrade(url: str, revision: str) -> None:
    repo = Repository(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with repo.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    repo.dispose()


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


@pytest.mark.postgis
def test_the_migration_moves_existing_tickets_into_monthly_partitions(postgis_server, router):
    from tests.support.storage import temporary_postgis_database

    with temporary_postgis_database(postgis_server) as url:
        _upgrade(url, "0004")
        before = TicketStore(url, router=router)
        made = [
            before.create(*point_in(1), matter_code="M11", received_at=sh(2025, 3, 31, 23, 30)),  # March in Shanghai
            before.create(*point_in(2), matter_code="M11", received_at=sh(2025, 4, 1, 0, 30)),
            before.create(*point_in(2), matter_code="M10", received_at=sh(2026, 10, 8, 9, 0)),
        ]
        before.engine.dispose()
        _upgrade(url, "head")
        repo = Repository(url)
        store = TicketStore(repo, router=router)
        with repo.engine.connect() as conn:
            assert is_partitioned(conn)
            assert {"2025-03", "2025-04", "2026-10"} <= set(month_partitions(conn))
            by_partition = dict(
                conn.execute(sa.text("SELECT tableoid::regclass::text, count(*) FROM tickets GROUP BY 1")).all()
            )
        assert by_partition == {"tickets_m202503": 1, "tickets_m202504": 1, "tickets_m202610": 1}
        assert [store.get(t.id).received_at for t in made] == [t.received_at for t in made]
        assert [e.action for e in store.events(made[0].id)] == ["create"]
        later = store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 10, 9, 9, 0))
        assert later.id == made[-1].id + 1  # the id sequence carried over
        repo.dispose()


@pytest.mark.postgis
def test_a_ticket_of_a_new_month_gets_its_partition_and_stray_rows_move_in(pg_store):
    engine = pg_store.engine
    stray = pg_store.create(*point_in(1), matter_code="M11", received_at=sh(2019, 5, 2, 10, 0))
    with engine.connect() as conn:
        assert "2019-05" in month_partitions(conn)
        where = conn.execute(sa.text("SELECT tableoid::regclass::text FROM tickets WHERE id = :i"), {"i": stray.id})
        assert where.scalar_one() == "tickets_m201905"
    # a row of a month without a partition waits in the default partition until its month is made
    from gridgis.storage.partitions import create_month

    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE tickets DETACH PARTITION tickets_m201905"))
        conn.execute(sa.text(f"INSERT INTO {DEFAULT_PARTITION} SELECT * FROM tickets_m201905"))
        conn.execute(sa.text("DROP TABLE tickets_m201905"))
    assert _count(engine, f"SELECT count(*) FROM {DEFAULT_PARTITION}") == 1
    with engine.begin() as conn:
        assert create_month(conn, "2019-05")
    assert _count(engine, f"SELECT count(*) FROM {DEFAULT_PARTITION}") == 0
    assert _count(engine, "SELECT count(*) FROM tickets_m201905") == 1


@pytest.mark.postgis
def test_the_statistics_of_one_month_read_only_that_months_partition(pg_store):
    for month in (9, 10, 11):
        pg_store.create(*point_in(1), matter_code="M11", received_at=sh(2026, month, 15, 10, 0))
    query = pg_store.statistics_query("2026-10")
    with pg_store.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect)
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).scalars())
        partitions = set(month_partitions(conn).values()) | {DEFAULT_PARTITION}
    touched = {name for name in partitions if name in plan}
    assert touched == {"tickets_m202610"}, plan
    assert [r["volume"] for r in pg_store.statistics("2026-10")] == [1]


def _close_all(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE tickets SET status = 'closed', closed_at = received_at + interval '2 days'"))


@pytest.mark.postgis
def test_retention_archives_old_months_to_files_and_detaches_them(pg_store, tmp_path):
    engine = pg_store.engine
    old = [pg_store.create(*point_in(1), matter_code="M11", received_at=sh(2024, m, 10, 9, 0)) for m in (1, 1, 2)]
    kept = pg_store.create(*point_in(2), matter_code="M11", received_at=sh(2024, 3, 10, 9, 0))
    _close_all(engine)
    plan = [p for p in retention(engine, "2024-03", tmp_path, actor="运维") if p.tickets]  # (other tests' months)
    assert [(p.month, p.tickets, p.events, p.done) for p in plan] == [
        ("2024-01", 2, 2, False),
        ("2024-02", 1, 1, False),
    ]
    assert not list(tmp_path.iterdir()) and _count(engine, "SELECT count(*) FROM tickets") == 4  # a dry run

    done = retention(engine, "2024-03", tmp_path, commit=True, actor="运维")
    assert {p.month for p in done} >= {"2024-01", "2024-02"} and all(p.done for p in done)
    with engine.connect() as conn:
        assert not {"2024-01", "2024-02"} & set(month_partitions(conn))
        assert conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(ticket_events)).scalar_one() == 1
    with gzip.open(tmp_path / "tickets-2024-01.jsonl.gz", "rt", encoding="utf-8") as fh:
        archived = [json.loads(line) for line in fh]
    assert sorted(r["id"] for r in archived) == sorted(t.id for t in old[:2])
    assert archived[0]["events"][0]["action"] == "create" and archived[0]["geometry"]["type"] == "Point"
    assert pg_store.get(kept.id).id == kept.id
    entries = [e for e in AuditLog(engine).entries(limit=10) if e["action"] == "tickets.retention"]
    assert {"2024-01", "2024-02"} <= {e["codes"][0] for e in entries}

    # and back: the month's partition, its tickets and their events as they were
    assert restore(engine, tmp_path / "tickets-2024-01.jsonl.gz", actor="运维") == 2
    back = pg_store.get(old[0].id)
    assert back.received_at == old[0].received_at and back.grid_code == old[0].grid_code
    assert (back.lon, back.lat) == (old[0].lon, old[0].lat)
    assert [e.action for e in pg_store.events(old[0].id)] == ["create"]
    with engine.connect() as conn:
        assert "2024-01" in month_partitions(conn)
        shape = conn.execute(
            sa.text("SELECT ST_AsText(geometry), ST_SRID(geometry) FROM tickets WHERE id = :i"), {"i": old[0].id}
        ).one()
    assert shape[1] == 4326 and shape[0].startswith("POINT")
    with pytest.raises(ValidationError, match="already stored"):
        restore(engine, tmp_path / "tickets-2024-01.jsonl.gz", actor="运维")


@pytest.mark.postgis
def test_retention_refuses_months_with_open_tickets_and_bad_months(pg_store, tmp_path):
    pg_store.create(*point_in(1), matter_code="M11", received_at=sh(2024, 1, 10, 9, 0))
    with pytest.raises(ValidationError, match="2024-01 \\(1\\)"):
        retention(pg_store.engine, "2024-02", tmp_path, commit=True, actor="运维")
    with pytest.raises(ValidationError, match="YYYY-MM"):
        retention(pg_store.engine, "2024/02", tmp_path, actor="运维")
    assert _count(pg_store.engine, "SELECT count(*) FROM tickets") == 1


@pytest.mark.postgis
def test_the_retention_command_is_a_dry_run_unless_committed(pg_store, tmp_path):
    from typer.testing import CliRunner

    from gridgis.cli import app

    pg_store.create(*point_in(1), matter_code="M11", received_at=sh(2023, 6, 10, 9, 0))
    _close_all(pg_store.engine)
    url = pg_store.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    args = ["tickets", "retention", "--before", "2023-07", "--archive", str(tmp_path), "--database-url", url]
    dry = runner.invoke(app, args)
    assert dry.exit_code == 0, dry.output
    assert "2023-06" in dry.output and "--commit" in dry.output and not list(tmp_path.iterdir())
    done = runner.invoke(app, [*args, "--commit", "--author", "运维"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "tickets-2023-06.jsonl.gz").exists()
    listed = runner.invoke(app, ["tickets", "partitions", "--database-url", url])
    assert listed.exit_code == 0 and "2023-06" not in listed.output and "tickets_default" in listed.output
    back = runner.invoke(app, ["tickets", "restore", str(tmp_path / "tickets-2023-06.jsonl.gz"), "--database-url", url])
    assert back.exit_code == 0 and "1 tickets restored" in back.output, back.output


def test_retention_on_sqlite_says_it_needs_postgresql(store, tmp_path):
    with pytest.raises(ValidationError, match="not partitioned"):
        retention(store.engine, "2024-01", tmp_path, actor="运维")
