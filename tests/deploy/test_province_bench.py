"""The province bench's small run (bench/province.py): its store is built once and kept, and its cheap
parts give every row without an error row. Figures are never asserted (speed lives in bench/)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgis]


def test_small_province_table_has_its_rows_and_keeps_its_store(postgis_server, monkeypatch):
    from bench.province import run
    from gridgis.io import read_city
    from tests.support.storage import drop_database, unique_name

    monkeypatch.setenv("GRIDGIS_TEST_POSTGIS_URL", postgis_server)
    monkeypatch.setenv("GRIDGIS_PROVINCE_COPIES", "2")
    monkeypatch.setenv("GRIDGIS_PROVINCE_TICKETS", "30000")
    name = unique_name("gridgis_t_province")
    try:
        first = run("small", parts=("statistics", "inserts"), database=name)
        again = run("small", parts=("statistics",), database=name)
    finally:
        drop_database(postgis_server, name)
        drop_database(postgis_server, f"{name}_plain")
    metrics = [r["metric"] for r in first]
    assert [r for r in first + again if r["metric"] == "error"] == []
    sample = read_city(Path(__file__).resolve().parents[2] / "data" / "geojson")
    store = next(r for r in first if r["metric"] == "province store (PostGIS)")
    assert store["value"] == "2 counties × the small sample"
    assert store["peer"].startswith(f"{2 * len(sample['micro_grids']):,} micro-grids")
    assert next(r["value"] for r in first if r["metric"].startswith("tickets ")) == "30,000"
    assert any(m.startswith("statistics(2026-06) aggregate in the server (") for m in metrics)
    assert any(m.startswith("ticket insert rate, SQL batch") for m in metrics)
    assert next(r["value"] for r in first if r["metric"] == "partitions the month's plan reads") == "tickets_m202606"
    # built the first time, kept the second
    assert next(r["value"] for r in first if r["metric"].startswith("store build")) != "kept"
    assert next(r["value"] for r in again if r["metric"].startswith("store build")) == "kept"
