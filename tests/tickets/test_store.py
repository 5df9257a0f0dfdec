"""TicketStore on SQLite and PostGIS: create, transitions, escalation, duplicates, statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gridgis.errors import NotFoundError, OutOfAreaError, PreconditionFailedError, TransitionError, ValidationError
from gridgis.tickets.calendar import SHANGHAI
from gridgis.tickets.store import TicketStore, ticket_events, tickets

from .conftest import X0, Y0, point_in, sh


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def any_store(request) -> TicketStore:
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


def _count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def walk(store, tid, at, rating=5):
    for action, params in [
        ("triage", {}),
        ("dispatch", {}),
        ("accept", {}),
        ("resolve", {}),
        ("rate", {"rating": rating}),
        ("close", {}),
    ]:
        store.transition(tid, action, actor="李网格", at=at, **params)
        at += timedelta(minutes=10)
    return store.get(tid)


def test_create_routes_schedules_and_records_the_ticket(any_store):
    t = any_store.create(
        *point_in(2, 2),
        matter_code="M10",
        description="楼顶私搭乱建",
        channel="12345",
        received_at=sh(2026, 9, 30, 10, 0),
        extra={"media_url": "https://e.cn/1.jpg", "楼栋": 3},
    )
    got = any_store.get(t.id)
    assert got == t
    assert (got.grid_code, got.micro_grid_code, got.community_code) == (
        "110105001001002",
        "11010500100100202",
        "110105001001",
    )
    assert got.level == "street" and got.department == "城管执法中队"  # hard matter: 难事提级共管
    assert got.respond_due == sh(2026, 9, 30, 10, 20) and got.coordinate_due == sh(2026, 9, 30, 14, 0)
    assert got.solve_due == sh(2026, 10, 10, 10, 0)  # 3 working days: Oct 8, Oct 9, Sat Oct 10 (调休)
    assert any_store.extra(t.id) == {"media_url": "https://e.cn/1.jpg", "楼栋": 3}
    [ev] = any_store.events(t.id)
    assert (ev.action, ev.from_status, ev.to_status) == ("create", None, "received")


def test_rejected_tickets_leave_no_trace(any_store):
    with pytest.raises(ValidationError, match="'M99'"):
        any_store.create(*point_in(1), matter_code="M99")
    with pytest.raises(OutOfAreaError, match="11010500100100101"):
        any_store.create(X0 - 0.01, Y0, matter_code="M11")
    with pytest.raises(ValidationError, match="finite"):
        any_store.create(float("nan"), Y0, matter_code="M11")
    with pytest.raises(ValidationError, match="out of range"):
        any_store.create(39.9, 200.0, matter_code="M11")
    with pytest.raises(ValidationError, match="matter_code"):
        any_store.create(*point_in(1), description="没有任何关键词")
    assert _count(any_store, tickets) == 0 and _count(any_store, ticket_events) == 0


def test_point_near_the_edge_is_snapped_and_says_so(any_store):
    t = any_store.create(X0 - 0.0002, Y0 + 0.001, matter_code="M27")
    assert t.snapped and 10 < t.distance_m < 30 and t.grid_code == "110105001001001"


def test_matter_is_picked_from_the_description_when_not_given(any_store):
    t = any_store.create(*point_in(1), description="小区里消防通道被车辆堵塞")
    assert t.matter_code == "M17" and t.level == "street"


def test_full_loop_is_persisted_with_every_transition(any_store):
    t = any_store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 11, 23, 9, 0))
    done = walk(any_store, t.id, sh(2026, 11, 23, 9, 10))
    assert done.status == "closed" and done.rating == 5 and done.on_time
    events = any_store.events(t.id)
    assert [e.to_status for e in events] == [
        "received",
        "triaged",
        "dispatched",
        "accepted",
        "resolved",
        "rated",
        "closed",
    ]
    assert events[3].actor == "李网格" and events[3].at == sh(2026, 11, 23, 9, 30)


def test_invalid_transition_is_refused_and_changes_nothing(any_store):
    t = any_store.create(*point_in(1), matter_code="M11")
    with pytest.raises(TransitionError, match=f"ticket {t.id}.*received"):
        any_store.transition(t.id, "close", actor="x")
    assert any_store.get(t.id).version == 1 and len(any_store.events(t.id)) == 1
    with pytest.raises(NotFoundError, match="ticket 999"):
        any_store.transition(999, "triage", actor="x")
    with pytest.raises(PreconditionFailedError, match="version 1"):
        any_store.transition(t.id, "triage", actor="x", expected_version=5)


def test_escalate_overdue_climbs_one_level_and_is_idempotent(any_store):
    late = any_store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 9, 30, 10, 0))
    fine = any_store.create(*point_in(2), matter_code="M11", received_at=sh(2026, 10, 8, 9, 0))
    done = any_store.create(*point_in(2), matter_code="M11", received_at=sh(2026, 9, 30, 10, 0))
    walk(any_store, done.id, sh(2026, 9, 30, 10, 5))
    now = sh(2026, 10, 8, 10, 30)  # late is due Oct 8 10:00
    first = any_store.escalate_overdue(now)
    assert [(r["id"], r["from_level"], r["to_level"]) for r in first] == [(late.id, "micro_grid", "grid")]
    assert any_store.escalate_overdue(now) == []
    got = any_store.get(late.id)
    assert got.overdue and got.status == "dispatched" and got.solve_due == sh(2026, 10, 9, 10, 30)
    assert any_store.events(late.id)[-1].data["reason"] == "overdue"
    assert any_store.get(fine.id).escalations == 0


def test_find_duplicates_offers_open_tickets_of_the_same_matter_nearby(any_store):
    x, y = point_in(1)
    master = any_store.create(x, y, matter_code="M27")
    any_store.create(x, y, matter_code="M11")  # other matter
    far = any_store.create(x + 0.0009, y, matter_code="M27")  # ~77 m east
    closed = any_store.create(x, y, matter_code="M27")
    walk(any_store, closed.id, sh(2026, 11, 23, 9, 0))
    near = any_store.find_duplicates(x + 0.0002, y, "M27")  # ~17 m from master, ~60 m from far
    assert [(t.id, round(d)) for t, d in near] == [(master.id, 17)]
    wide = any_store.find_duplicates(x + 0.0002, y, "M27", radius_m=100)
    assert [t.id for t, _ in wide] == [master.id, far.id]
    with pytest.raises(ValidationError, match="radius"):
        any_store.find_duplicates(x, y, "M27", radius_m=-1)


def test_merge_closes_the_duplicate_and_refuses_a_merged_master(any_store):
    x, y = point_in(1)
    master = any_store.create(x, y, matter_code="M27")
    dup = any_store.create(x, y, matter_code="M27")
    other = any_store.create(x, y, matter_code="M27")
    merged = any_store.transition(dup.id, "merge", actor="分析员", master_id=master.id)
    assert (merged.status, merged.close_reason, merged.master_id) == ("closed", "merged", master.id)
    with pytest.raises(ValidationError, match=f"merged into {master.id}"):
        any_store.transition(other.id, "merge", actor="分析员", master_id=dup.id)
    with pytest.raises(NotFoundError):
        any_store.transition(other.id, "merge", actor="分析员", master_id=12345)


def test_merge_needs_an_open_master_of_the_same_matter_unless_overridden(any_store):
    from gridgis.errors import TransitionError

    x, y = point_in(1)
    closed = any_store.create(x, y, matter_code="M27")
    for action in ("triage", "dispatch", "accept", "resolve", "close"):
        any_store.transition(closed.id, action, actor="x")
    parking = any_store.create(x, y, matter_code="M11")
    dup = any_store.create(x, y, matter_code="M27")
    with pytest.raises(TransitionError, match="closed"):
        any_store.transition(dup.id, "merge", actor="x", master_id=closed.id)
    with pytest.raises(ValidationError, match="M11"):
        any_store.transition(dup.id, "merge", actor="x", master_id=parking.id)
    assert any_store.get(dup.id).status == "received"
    merged = any_store.transition(dup.id, "merge", actor="x", master_id=parking.id, allow_other_matter=True)
    assert merged.master_id == parking.id


def test_extension_by_working_days(any_store):
    t = any_store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 9, 29, 10, 0))
    any_store.transition(t.id, "triage", actor="x")
    ext = any_store.transition(t.id, "extend", actor="x", note="需要协调", solve_due="2wd")
    assert ext.solve_due == sh(2026, 10, 9, 10, 0)  # Sep 30 → Oct 8 → Oct 9


def test_list_filters_by_grid_and_status(any_store):
    a = any_store.create(*point_in(1), matter_code="M11")
    b = any_store.create(*point_in(2), matter_code="M11")
    any_store.transition(b.id, "triage", actor="x")
    assert [t.id for t in any_store.list(grid="110105001001001")] == [a.id]
    assert [t.id for t in any_store.list(status="triaged")] == [b.id]
    assert {t.id for t in any_store.list(grid="110105001001")} == {a.id, b.id}
    with pytest.raises(ValidationError, match="unknown ticket status 'done'"):
        any_store.list(status="done")


def test_statistics_per_grid_and_month(any_store):
    g1, g2 = point_in(1), point_in(2)
    t1 = any_store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 9, 9, 0))
    walk(any_store, t1.id, sh(2026, 10, 9, 9, 10), rating=5)  # on time, closed, 5
    t2 = any_store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 9, 9, 0))
    walk(any_store, t2.id, sh(2026, 10, 20, 9, 0), rating=2)  # late, closed, 2
    t3 = any_store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 31, 23, 30))  # Oct in Shanghai, Oct 31 UTC
    d = any_store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 12, 9, 0))
    any_store.transition(d.id, "merge", actor="x", master_id=t3.id)  # the master must be open
    any_store.create(*g2, matter_code="M11", received_at=sh(2026, 11, 1, 0, 30))  # November in Shanghai
    rows = {(r["grid_code"], r["month"]): r for r in any_store.statistics()}
    oct1 = rows[("110105001001001", "2026-10")]
    assert (oct1["volume"], oct1["merged"], oct1["resolved"], oct1["on_time"], oct1["closed"]) == (3, 1, 2, 1, 2)
    assert oct1["on_time_rate"] == 0.5 and oct1["closure_rate"] == round(2 / 3, 4)
    assert oct1["satisfaction"] == 3.5 and oct1["satisfaction_rate"] == 0.5
    assert rows[("110105001001002", "2026-11")]["on_time_rate"] is None
    only_oct = any_store.statistics("2026-10")
    assert [r["grid_code"] for r in only_oct] == ["110105001001001"]
    by_community = any_store.statistics("2026-11", level="community")
    assert by_community[0]["community_code"] == "110105001001" and by_community[0]["volume"] == 1
    with pytest.raises(ValidationError, match="YYYY-MM"):
        any_store.statistics("2026-13")


def test_times_come_back_aware_and_in_utc(any_store):
    t = any_store.create(*point_in(1), matter_code="M11", received_at=sh(2026, 11, 23, 9, 0))
    got = any_store.get(t.id)
    assert got.received_at.utcoffset() == timedelta(0)
    assert got.received_at.astimezone(SHANGHAI).hour == 9


def test_store_works_on_the_repository_schema_from_the_migrations(tmp_path, router):
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'repo.db'}")
    repo.create_schema()
    store = TicketStore(repo, router=router)
    t = store.create(*point_in(1), matter_code="M11")
    assert store.get(t.id).grid_code == "110105001001001"
    repo.dispose()


def test_concurrent_reports_are_all_kept_and_a_double_accept_wins_once(any_store):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda i: any_store.create(*point_in(1 + i % 2), matter_code="M11"), range(8)))
    assert len({t.id for t in made}) == 8 and len(any_store.list()) == 8
    t = made[0]
    any_store.transition(t.id, "triage", actor="x")
    any_store.transition(t.id, "dispatch", actor="x")

    def accept(who):
        try:
            return any_store.transition(t.id, "accept", actor=who).status
        except (TransitionError, PreconditionFailedError):
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(accept, ["甲", "乙"]))
    assert outcomes == ["accepted", "refused"]
    assert [e.action for e in any_store.events(t.id)].count("accept") == 1


@pytest.mark.postgis
def test_a_create_failing_half_way_leaves_no_ticket(pg_store):
    with pytest.raises(sa.exc.DBAPIError):
        pg_store.create(*point_in(1), matter_code="M11", actor="很长" * 200)  # the event's actor column overflows
    assert _count(pg_store, tickets) == 0 and _count(pg_store, ticket_events) == 0


def test_a_ticket_whose_deadlines_fall_in_an_unknown_year_carries_a_warning(store):
    """Seen: a ticket received on 2027-09-30 got a deadline on National Day and nothing said so."""
    from gridgis.tickets.views import ticket_dict

    late = ticket_dict(store.create(*point_in(2, 2), matter_code="M10", received_at=sh(2027, 9, 30, 10, 0)))
    assert late["warnings"] and "holidays of 2027 are not loaded" in late["warnings"][0]
    known = ticket_dict(store.create(*point_in(2, 2), matter_code="M10", received_at=sh(2026, 9, 30, 10, 0)))
    assert known["warnings"] == []
