"""Importing ticket files, bulk transitions, the simulated handling, and the store on the migrated schema."""

from __future__ import annotations

import json
from datetime import timedelta

import geopandas as gpd
import pytest
import shapely

from gridgis.errors import CRSError, NotFoundError, TransitionError, ValidationError
from gridgis.sample.lattice import synthetic_city
from gridgis.tickets.importer import read_ticket_file, reports_from_frame
from gridgis.tickets.simulate import plan, simulate
from gridgis.tickets.store import TicketStore

from .conftest import X0, Y0, point_in, sh


def _file(tmp_path, rows, name="t.geojson"):
    frame = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "xy"} for r in rows],
        geometry=[shapely.Point(*r["xy"]) for r in rows],
        crs="EPSG:4326",
    )
    path = tmp_path / name
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def test_import_keeps_ids_times_and_refuses_bad_rows_by_row(store, tmp_path):
    path = _file(
        tmp_path,
        [
            {
                "id": "T1",
                "matter_code": "M14",
                "title": "广场舞噪声扰民",
                "description": "晚上九点后仍有广场舞",
                "channel": "12345热线",
                "reported_at": "2026-08-25T08:13:22+08:00",
                "address": "梅园一街坊",
                "xy": point_in(1),
            },
            {
                "id": "T2",
                "matter_code": "M99",
                "title": "x",
                "description": "y",
                "channel": "微信小程序",
                "reported_at": "2026-08-25T09:00:00+08:00",
                "address": "",
                "xy": point_in(2),
            },
            {
                "id": "T3",
                "matter_code": "M27",
                "title": "垃圾",
                "description": "垃圾满溢",
                "channel": "网格员巡查",
                "reported_at": "2026-08-26T09:00:00+08:00",
                "address": "",
                "xy": (X0 - 0.05, Y0),
            },
        ],
    )
    created, rejected = store.create_many(reports_from_frame(read_ticket_file(path)))
    assert [t.external_id for t in created] == ["T1"]
    t = store.get(created[0].id)
    assert t.received_at == sh(2026, 8, 25, 8, 13, 22) and t.channel == "12345热线"
    assert t.description == "广场舞噪声扰民：晚上九点后仍有广场舞" and store.extra(t.id) == {"title": "广场舞噪声扰民"}
    assert [r["external_id"] for r in rejected] == ["T2", "T3"]
    assert "unknown matter code 'M99'" in rejected[0]["reason"]
    assert "outside the service area" in rejected[1]["reason"]
    again, skipped = store.create_many(reports_from_frame(read_ticket_file(path)))
    assert again == [] and skipped[0] == {
        "index": 0,
        "external_id": "T1",
        "reason": f"already imported as ticket {created[0].id}",
    }
    assert len(store.list()) == 1 and len(store.events(t.id)) == 1


def test_csv_import_needs_lon_lat_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(CRSError, match="pass --crs"):
        read_ticket_file(bad)  # a CSV cannot say its CRS: never guessed
    with pytest.raises(ValidationError, match="no column lon, lat"):
        read_ticket_file(bad, "wgs84")
    with pytest.raises(NotFoundError, match="nope.geojson"):
        read_ticket_file(tmp_path / "nope.geojson")
    good = tmp_path / "g.csv"
    x, y = point_in(1)
    good.write_text(f"id,lon,lat,matter_code,reported_at\nA,{x},{y},M11,2026-10-09 09:00\n", encoding="utf-8")
    [report] = reports_from_frame(read_ticket_file(good, "gcj02"))
    assert report["crs"] == "gcj02"
    assert report["received_at"] == sh(2026, 10, 9, 9, 0) and report["external_id"] == "A"


def test_transition_many_matches_single_transitions_and_rolls_back_on_refusal(store):
    a = store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 11, 23, 9, 0))
    b = store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 11, 23, 9, 0))
    at = sh(2026, 11, 23, 10, 0)
    steps = [
        {"id": a.id, "action": act, "actor": "x", "at": at + timedelta(minutes=i), **kw}
        for i, (act, kw) in enumerate(
            [("triage", {}), ("dispatch", {}), ("accept", {}), ("resolve", {}), ("rate", {"rating": 5}), ("close", {})]
        )
    ]
    assert store.transition_many(steps) == 6
    for i, (act, kw) in enumerate(
        [("triage", {}), ("dispatch", {}), ("accept", {}), ("resolve", {}), ("rate", {"rating": 5}), ("close", {})]
    ):
        store.transition(b.id, act, actor="x", at=at + timedelta(minutes=i), **kw)
    ga, gb = store.get(a.id), store.get(b.id)
    assert {k: v for k, v in vars(ga).items() if k != "id"} == {k: v for k, v in vars(gb).items() if k != "id"}
    assert [e.to_status for e in store.events(a.id)] == [e.to_status for e in store.events(b.id)]
    c = store.create(*point_in(2), matter_code="M11")
    with pytest.raises(TransitionError, match=f"ticket {c.id}"):
        store.transition_many(
            [{"id": c.id, "action": "triage", "actor": "x"}, {"id": c.id, "action": "close", "actor": "x"}]
        )
    assert store.get(c.id).status == "received" and len(store.events(c.id)) == 1


def test_simulation_is_deterministic_and_only_uses_valid_transitions(store):
    made = [
        store.create(
            *point_in(1 + i % 2),
            matter_code="M27" if i % 3 else "M11",
            received_at=sh(2026, 10, 9, 9, 0) + timedelta(hours=5 * i),
        )
        for i in range(30)
    ]
    now = sh(2026, 10, 20, 9, 0)
    assert plan(made, now) == plan(made, now)
    counts = simulate(store, made, now)
    assert counts["closed"] + counts["resolved"] + counts["merged"] + counts["open"] == 30
    rows = store.statistics("2026-10")
    assert sum(r["volume"] + r["merged"] for r in rows) == 30


def test_import_routes_by_the_boundaries_of_the_store(tmp_path, make_repository):
    repo = make_repository("sqlite")
    city = synthetic_city(2, 2, micro=2, per_community=2)
    repo.write_city(city, author="t", message="city")
    p = city["micro_grids"].geometry.iloc[0].representative_point()
    store = TicketStore(repo)
    path = _file(
        tmp_path,
        [
            {
                "id": "A",
                "matter_code": "M27",
                "title": "垃圾",
                "description": "d",
                "channel": "app",
                "reported_at": "2020-01-01T09:00:00+08:00",
                "address": "",
                "xy": (p.x, p.y),
            }
        ],
    )
    [t], _ = store.create_many(reports_from_frame(read_ticket_file(path)))
    assert t.micro_grid_code == city["micro_grids"]["code"].iloc[0] and t.assignee


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_migration_0002_creates_the_ticket_tables(make_repository, router, backend):
    repo = make_repository(backend)
    assert int(repo.schema_revision()) >= 2
    store = TicketStore(repo, router=router)
    t = store.create(*point_in(1), matter_code="M11", description=json.dumps({"k": "值"}, ensure_ascii=False))
    assert store.get(t.id).description == '{"k": "值"}'


def test_escalator_escalates_once_per_overdue_ticket_and_survives_errors(store):
    from gridgis.tickets.escalator import Escalator

    t = store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 9, 30, 10, 0))
    seen = []
    esc = Escalator(store, 0.01, clock=lambda: sh(2026, 10, 9, 9, 0), on_run=seen.append)
    esc.run(max_runs=3)
    assert [len(s) for s in seen] == [1, 0, 0] and store.get(t.id).level == "grid"

    class Broken:
        def escalate_overdue(self, now):
            raise RuntimeError("database gone")

    assert Escalator(Broken(), 1).run_once() == []
    with pytest.raises(ValueError, match="positive"):
        Escalator(store, 0)
