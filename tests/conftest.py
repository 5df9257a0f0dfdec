"""Fixtures shared by the whole suite.

- ``sample_dir``: the committed sample city (data/geojson/).
- ``shared_data``: ../shared/data (real public datasets); tests that need it skip when absent locally.
- PostGIS: ``GRIDGIS_TEST_POSTGIS_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/gridgis_test).
  In CI (``CI=true``) a skipped test marked ``postgis``, ``browser`` or ``qgis`` is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Property tests explore new random examples on every developer run; in CI (CI=true) they replay a
# fixed derandomized set, so a landing is not decided by which examples a run happened to draw (an
# example that fails locally is kept in .hypothesis/ and replayed there until fixed).
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    _hypothesis_settings.load_profile("ci")

# apps in tests build their routing index on first use (tests that want the start-up build turn it on)
os.environ.setdefault("GRIDGIS_PREWARM_ROUTING", "0")
# the service escalates overdue tickets every 5 minutes by default; tests that want it turn it on
os.environ.setdefault("GRIDGIS_TICKET_ESCALATION_INTERVAL_S", "0")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "geojson"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


# --------------------------------------------------------------------------- storage fixtures
# (owned by the storage area; see gridgis/storage/testing.py)
@pytest.fixture(scope="session")
def postgis_server() -> str:
    """The base URL of the PostGIS test server; skips (a failure in CI) when it cannot be reached."""
    from gridgis.errors import StorageUnavailableError
    from gridgis.storage.testing import create_database, drop_database, test_postgis_url, unique_name

    url = test_postgis_url()
    probe = unique_name("gridgis_probe")
    try:
        create_database(url, probe, postgis=False)
        drop_database(url, probe)
    except StorageUnavailableError as err:
        pytest.skip(f"PostGIS is not reachable: {err}")
    return url


@pytest.fixture(scope="session")
def postgis_template(postgis_server: str):
    """Name of a session-wide database with PostGIS and the gridgis schema, copied by fresh databases."""
    from gridgis.storage.testing import postgis_template as make_template

    with make_template(postgis_server) as name:
        yield name


@pytest.fixture(scope="session")
def postgis_url(postgis_server: str, postgis_template: str):
    """URL of a session-wide PostGIS database with the gridgis schema (shared by the session's tests)."""
    from gridgis.storage.testing import temporary_postgis_database

    with temporary_postgis_database(postgis_server, template=postgis_template) as url:
        yield url


@pytest.fixture(scope="session")
def repository_postgis_url(postgis_server: str, postgis_template: str):
    """The session database behind ``make_repository("postgis")``: emptied before each use, so it
    is kept apart from ``postgis_url``, whose contents tests may share."""
    from gridgis.storage.testing import temporary_postgis_database

    with temporary_postgis_database(postgis_server, template=postgis_template) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite store with the gridgis schema at head, copied by ``make_repository("sqlite")``."""
    from gridgis.storage import Repository

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    repo = Repository(f"sqlite:///{path}")
    repo.create_schema()
    repo.dispose()
    import sqlite3

    with sqlite3.connect(path, isolation_level=None) as conn:  # fold the WAL into the file we copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def make_repository(request, tmp_path):
    """Factory: ``make_repository("sqlite" | "postgis", fresh=False)`` → an empty Repository with the schema.

    SQLite: a new file under tmp_path per call. PostGIS: one session database kept for this
    factory (``repository_postgis_url``, not ``postgis_url``), emptied at each call — so two
    calls in one test share it; ``fresh=True`` gives a database of its own instead (copied from
    the session template, dropped at the end), e.g. for two independent stores in one test.
    All repositories are disposed when the test ends.
    """
    import shutil
    from contextlib import ExitStack

    from gridgis.storage import Repository
    from gridgis.storage.testing import empty_database, temporary_postgis_database

    stack = ExitStack()
    made: list = []

    def make(backend: str = "sqlite", fresh: bool = False) -> Repository:
        if backend == "sqlite":
            path = tmp_path / f"store{len(made)}.db"
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
            repo = Repository(f"sqlite:///{path}")
        elif backend == "postgis" and fresh:
            server = request.getfixturevalue("postgis_server")
            template = request.getfixturevalue("postgis_template")
            repo = Repository(stack.enter_context(temporary_postgis_database(server, template=template)))
        elif backend == "postgis":
            url = request.getfixturevalue("repository_postgis_url")
            empty_database(url)
            repo = Repository(url)
        else:
            raise ValueError(f"unknown backend {backend!r}; use 'sqlite' or 'postgis'")
        made.append(repo)  # every store starts from a template already at the head revision
        return repo

    yield make
    for repo in made:
        repo.dispose()
    stack.close()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def repository(request, make_repository):
    """A fresh Repository on each backend in turn (the PostGIS run is marked ``postgis``)."""
    return make_repository(request.param)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and call.when in ("setup", "call"):
        marks = {m.name for m in item.iter_markers()}
        if marks & {"postgis", "browser", "qgis"}:
            report.outcome = "failed"
            report.longrepr = (
                f"skipped in CI, which is a failure for {sorted(marks & {'postgis', 'browser', 'qgis'})} tests"
            )
