"""Fixtures shared by the whole suite.

- ``sample_dir``: the committed sample city (data/geojson/).
- ``shared_data``: ../shared/data (real public datasets); tests that need it skip when absent locally.
- PostGIS: ``GRIDGIS_TEST_POSTGIS_URL`` (default postgresql+psycopg://postgres@127.0.0.1:5432/gridgis_test).
  In CI (``CI=true``) a skipped test marked ``postgis`` or ``browser`` is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: D103 - pytest hook
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and call.when in ("setup", "call"):
        marks = {m.name for m in item.iter_markers()}
        if marks & {"postgis", "browser"}:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, which is a failure for {sorted(marks & {'postgis', 'browser'})} tests"
