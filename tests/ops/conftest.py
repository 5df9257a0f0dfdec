"""A PostGIS store holding the sample city, and a token store, for the operations tests."""

from __future__ import annotations

import pytest

from gridgis.io import read_city
from gridgis.storage import Repository
from tests.support.storage import temporary_postgis_database, test_postgis_url


@pytest.fixture
def city_store(sample_dir):
    """A fresh PostGIS database with the sample city in it; yields its URL."""
    with temporary_postgis_database(test_postgis_url(), prefix="gridgis_ops") as url:
        repo = Repository(url)
        repo.create_schema()
        city = {k: v for k, v in read_city(sample_dir).items() if k != "tickets"}
        repo.write_city(city, author="tests", message="sample city")
        repo.dispose()
        yield url


def make_token(url: str, role: str, scopes: tuple[str, ...] = ("*",)) -> str:
    from gridgis.auth.store import TokenStore, ensure_tables

    repo = Repository(url)
    ensure_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create(f"ops-{role}", role, list(scopes))
    repo.dispose()
    return token


@pytest.fixture(scope="module")
def sample_api(tmp_path_factory):
    """A real HTTP server over a SQLite store holding the sample city; yields (url, repository)."""
    from pathlib import Path

    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from tests.live import LiveServer

    sample = Path(__file__).resolve().parents[2] / "data" / "geojson"
    url = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'ops.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city({k: v for k, v in read_city(sample).items() if k != "tickets"}, author="tests", message="sample")
    app = create_app(get_settings(database_url=url), repo)
    with LiveServer(app) as server:
        yield server.url, repo
    repo.dispose()
