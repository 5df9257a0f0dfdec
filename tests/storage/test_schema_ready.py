"""A store made by an older gridgis: /ready says so, names the command, and `gridgis db upgrade` fixes it.

Seen: two migrations (roads, SQLite's spatial index) landed in one day; a store left at the older
revision answered /ready 200 and then 503 on tiles and alignment, with nothing saying why.
"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridgis.errors import SchemaOutdatedError
from gridgis.storage.repository import MIGRATIONS, schema_head


def _downgrade(repo, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with repo.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_ready_refuses_a_store_behind_the_code_until_db_upgrade(make_repository, backend):
    from gridgis.api.app import create_app
    from gridgis.cli import app as cli_app
    from gridgis.settings import get_settings

    repo = make_repository(backend, fresh=True) if backend == "postgis" else make_repository(backend)
    client = TestClient(create_app(get_settings(database_url=repo.url), repo))
    ok = client.get("/ready")
    assert ok.status_code == 200 and ok.json()["schema"] == schema_head() == repo.check_schema()

    _downgrade(repo, "0005")
    late = client.get("/ready")
    assert late.status_code == 503 and late.headers["content-type"].startswith("application/problem+json")
    problem = late.json()
    assert problem["title"] == "Store schema out of date"
    assert "0005" in problem["detail"] and schema_head() in problem["detail"]
    assert "gridgis db upgrade" in problem["detail"]
    with pytest.raises(SchemaOutdatedError):
        repo.check_schema()

    result = CliRunner().invoke(cli_app, ["db", "upgrade", "--database-url", repo.url])
    assert result.exit_code == 0, result.output
    again = client.get("/ready")
    assert again.status_code == 200 and again.json()["schema"] == schema_head()


def test_serve_warns_in_one_line_about_an_outdated_store(make_repository, monkeypatch):
    from rich.console import Console

    from gridgis.cli.serve import _warn_outdated_schema

    repo = make_repository("sqlite")
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", repo.url)
    console = Console(record=True, width=200)
    _warn_outdated_schema(console)
    assert console.export_text() == ""  # current: nothing said
    _downgrade(repo, "0006")
    _warn_outdated_schema(console)
    text = console.export_text().strip()
    assert text.count("\n") == 0 and "warning:" in text and "gridgis db upgrade" in text and "0006" in text
