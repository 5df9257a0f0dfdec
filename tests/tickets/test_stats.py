"""The monthly figures: the store's SQL aggregate and ``summarise`` over rows held in Python agree.

Both run :func:`gridgis.tickets.stats.counts`; these tests put the same tickets through both, on
SQLite and on PostGIS (partitioned by month), with the awkward cases: merged duplicates, late
resolutions, overdue and manual escalations, a reopened ticket, a rated but unclosed one, tickets on
either side of month and year ends in Asia/Shanghai (in the previous month in UTC), unrouted tickets
(NULL and "" area codes) and months without tickets.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gridgis.errors import ValidationError
from gridgis.tickets.calendar import SHANGHAI
from gridgis.tickets.stats import LEVEL_COLUMNS, months_between, summarise
from gridgis.tickets.store import TicketStore, tickets

from .conftest import point_in, sh

G1, G2 = "110105001001001", "110105001001002"
MONTHS = (None, "2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01")


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def any_store(request) -> TicketStore:
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


def _walk(store, tid, at, steps):
    for action, params in steps:
        store.transition(tid, action, actor="李网格", at=at, **params)
        at += timedelta(minutes=10)


WALK = [("triage", {}), ("dispatch", {}), ("accept", {}), ("resolve", {})]


def _fill(store: TicketStore) -> None:
    g1, g2 = point_in(1), point_in(2)
    a = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 9, 9, 0))
    _walk(store, a.id, sh(2026, 10, 9, 9, 10), [*WALK, ("rate", {"rating": 5}), ("close", {})])  # on time
    b = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 9, 9, 0))
    _walk(store, b.id, sh(2026, 10, 20, 9, 0), [*WALK, ("rate", {"rating": 2}), ("close", {})])  # late
    c = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 10, 9, 0))
    escalated = [("triage", {}), ("escalate", {"reason": "manual"}), ("accept", {}), ("resolve", {}), ("close", {})]
    _walk(store, c.id, sh(2026, 10, 10, 9, 5), escalated)  # escalated by hand, on time, closed unrated
    e = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 12, 9, 0))
    assert [x["id"] for x in store.escalate_overdue(now=sh(2026, 10, 30, 9, 0))] == [e.id]  # overdue, open
    r = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 13, 9, 0))
    _walk(store, r.id, sh(2026, 10, 13, 9, 10), [*WALK, ("reopen", {"note": "没修好"})])  # reopened: open again
    m = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 31, 23, 30))  # 15:30 UTC: October both
    d = store.create(*g1, matter_code="M11", received_at=sh(2026, 10, 14, 9, 0))
    store.transition(d.id, "merge", actor="x", master_id=m.id, at=sh(2026, 10, 31, 23, 40))
    store.create(*g2, matter_code="M11", received_at=sh(2026, 11, 1, 0, 30))  # Oct 31 16:30 UTC: November
    store.create(*g2, matter_code="M11", received_at=sh(2026, 10, 1, 7, 59))  # Sep 30 23:59 UTC: October
    q = store.create(*g2, matter_code="M11", received_at=sh(2026, 11, 3, 9, 0))
    _walk(store, q.id, sh(2026, 11, 3, 9, 10), [*WALK, ("rate", {"rating": 4})])  # rated, not closed
    store.create(*g1, matter_code="M11", received_at=sh(2026, 12, 31, 23, 59))  # 2026-12
    store.create(*g1, matter_code="M11", received_at=sh(2027, 1, 1, 0, 10))  # Dec 31 16:10 UTC: 2027-01
    n1 = store.create(*g1, matter_code="M11", received_at=sh(2026, 11, 5, 9, 0))
    n2 = store.create(*g2, matter_code="M11", received_at=sh(2026, 11, 6, 9, 0))
    with store.engine.begin() as conn:  # unrouted tickets: no grid, or an empty code
        conn.execute(tickets.update().where(tickets.c.id == n1.id).values(grid_code=None, micro_grid_code=None))
        conn.execute(tickets.update().where(tickets.c.id == n2.id).values(grid_code="", micro_grid_code=""))


def _rows(store: TicketStore, month: str | None) -> list[dict]:
    """Every ticket row (all columns) of ``month`` (its Shanghai calendar month, decided here in Python)."""
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(tickets)).mappings()]
    return [r for r in rows if month is None or r["received_at"].astimezone(SHANGHAI).strftime("%Y-%m") == month]


def test_the_store_and_summarise_give_the_same_figures(any_store):
    _fill(any_store)
    for level in LEVEL_COLUMNS:
        for month in MONTHS:
            in_sql = any_store.statistics(month, level=level)
            in_python = summarise(_rows(any_store, month), tz=SHANGHAI, level=level)
            assert in_sql == in_python, (level, month)
    by_grid = {(r["grid_code"], r["month"]): r for r in any_store.statistics()}
    assert sorted(by_grid) == [
        ("", "2026-11"),
        (G1, "2026-10"),
        (G1, "2026-12"),
        (G1, "2027-01"),
        (G2, "2026-10"),
        (G2, "2026-11"),
    ]
    october = by_grid[(G1, "2026-10")]
    assert october == {
        "grid_code": G1,
        "month": "2026-10",
        "volume": 6,  # a b c e r m
        "merged": 1,  # d
        "resolved": 3,  # a b c (r was reopened)
        "on_time": 2,  # a c (b late)
        "closed": 3,
        "open": 3,  # e r m
        "overdue": 2,  # b (resolved late) and e (escalated for lateness)
        "rated": 2,
        "on_time_rate": 0.6667,
        "closure_rate": 0.5,
        "satisfaction": 3.5,
        "satisfaction_rate": 0.5,
    }
    assert by_grid[("", "2026-11")]["volume"] == 2  # NULL and "" are one group
    rated = by_grid[(G2, "2026-11")]
    assert (rated["volume"], rated["resolved"], rated["closed"], rated["open"], rated["rated"]) == (2, 1, 0, 1, 1)
    assert rated["satisfaction_rate"] == 1.0 and rated["closure_rate"] == 0.0
    assert any_store.statistics("2026-08") == [] == any_store.statistics("2026-09")
    assert [r["month"] for r in any_store.statistics(level="street")] == ["2026-10", "2026-11", "2026-12", "2027-01"]


def test_an_empty_store_has_no_figures(any_store):
    assert any_store.statistics() == [] == any_store.statistics("2026-10", level="street")
    assert summarise([], tz=SHANGHAI) == []


def test_a_bad_level_or_month_is_refused_by_both(any_store):
    for call in (
        lambda: any_store.statistics(level="city"),
        lambda: summarise([], tz=SHANGHAI, level="city"),
        lambda: any_store.statistics("2026-13"),
    ):
        with pytest.raises(ValidationError):
            call()


def test_months_between_crosses_the_year_in_the_zone():
    from datetime import UTC, datetime

    first, last = datetime(2026, 11, 30, 16, 0, tzinfo=UTC), datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert months_between(first, last, SHANGHAI) == ["2026-12", "2027-01"]
    assert months_between(None, None, SHANGHAI) == []


def test_the_counts_of_a_dataframe_are_the_stores(any_store):
    """``count_frame`` (the people's assessment and other DataFrame callers) on a frame of the same tickets:
    NaN ratings, NaT times and numpy booleans give the store's counts."""
    import pandas as pd

    from gridgis.tickets.stats import count_frame

    _fill(any_store)
    frame = pd.DataFrame(_rows(any_store, None))
    assert frame["rating"].dtype == float  # NaN where unrated
    for level in ("grid", "street"):
        counted = count_frame(frame, tz=SHANGHAI, level=level).to_dict("records")
        in_sql = any_store.statistics(level=level)
        names = ("volume", "merged", "resolved", "on_time", "closed", "open", "overdue", "rated")
        assert [(r["code"], r["month"], *(r[n] for n in names)) for r in counted] == [
            (r[f"{level}_code"], r["month"], *(r[n] for n in names)) for r in in_sql
        ]


def test_a_tickets_on_time_flag_is_the_figures_on_time_count():
    """Two places say "on time": ``Ticket.on_time`` (the ticket views) and the SQL count of
    :func:`gridgis.tickets.stats.counts` (statistics, assessment). They must agree on every
    combination of resolution time, deadline, lateness escalation and merge."""
    import dataclasses
    import itertools
    from datetime import datetime

    from gridgis.tickets.loop import Ticket
    from gridgis.tickets.stats import summarise

    received = datetime(2026, 10, 9, 1, 0, tzinfo=SHANGHAI)
    due = received + timedelta(days=3)
    resolved_options = (None, due - timedelta(seconds=1), due, due + timedelta(microseconds=1))
    cases = itertools.product(resolved_options, (None, due), (False, True), (None, "merged", "duplicate"))
    for resolved_at, solve_due, overdue, close_reason in cases:
        t = Ticket(
            "M11",
            116.4,
            39.9,
            received,
            status="resolved" if resolved_at else "dispatched",
            grid_code=G1,
            resolved_at=resolved_at,
            solve_due=solve_due,
            overdue=overdue,
            close_reason=close_reason,
        )
        (row,) = summarise([dataclasses.asdict(t)], tz=SHANGHAI)
        want = 0 if close_reason == "merged" else int(bool(t.on_time))
        assert row["on_time"] == want, (resolved_at, solve_due, overdue, close_reason, t.on_time)
