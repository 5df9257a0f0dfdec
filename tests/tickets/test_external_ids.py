"""One rule for a report's ``external_id`` on every intake path (single create, import), on SQLite and PostGIS.

A source system (the 12345 hotline) that re-sends a report after a timeout must not make a second
ticket: the same external_id with the same content answers the stored ticket (a replay); with other
content it is refused naming the stored ticket, and nothing is stored. Two posts at once store one.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from gridgis.auth.tables import audit_log
from gridgis.errors import DuplicateExternalIdError
from gridgis.tickets.store import TicketStore, ticket_events, tickets

from .conftest import point_in, sh


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def any_store(request) -> TicketStore:
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


def _count(store, table, *where) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def _report(**change):
    lon, lat = point_in(1, 1)
    report = {
        "lon": lon,
        "lat": lat,
        "matter_code": "M27",
        "description": "垃圾桶满溢",
        "channel": "12345",
        "external_id": "12345-20261201-0001",
    }
    return {**report, **change}


def _create(store, **change):
    report = _report(**change)
    return store.create(report.pop("lon"), report.pop("lat"), **report)


def test_a_resent_report_is_not_stored_twice(any_store):
    first = _create(any_store)
    again = _create(any_store)  # the hotline retries after a timeout
    assert again.id == first.id
    assert _count(any_store, tickets, tickets.c.external_id == "12345-20261201-0001") == 1
    assert _count(any_store, ticket_events, ticket_events.c.ticket_id == first.id) == 1


def test_submit_says_whether_the_report_was_a_replay(any_store):
    lon, lat = point_in(1, 1)
    made = any_store.submit(lon, lat, **{k: v for k, v in _report().items() if k not in ("lon", "lat")})
    assert made.replayed is False and made.ticket.id is not None
    audits = _count(any_store, audit_log)
    # received_at, reporter and extra are not compared: a retry may be stamped later or carry other details
    again = any_store.submit(
        lon,
        lat,
        **{k: v for k, v in _report().items() if k not in ("lon", "lat")},
        received_at=sh(2026, 12, 1, 9),
        reporter="王",
        extra={"a": 1},
    )
    assert again.replayed is True and again.ticket == made.ticket
    assert _count(any_store, audit_log) == audits  # a replay writes nothing, not even an audit entry


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "垃圾桶满溢，已三天"}, "description"),
        ({"matter_code": "M11"}, "matter_code"),
        ({"channel": "wechat"}, "channel"),
        ({"lon": point_in(2, 1)[0]}, "point"),
        ({"address": "梅园三街坊12号楼"}, "address"),
    ],
)
def test_the_same_external_id_with_other_content_is_refused_and_stores_nothing(any_store, change, field):
    first = _create(any_store)
    before = (_count(any_store, tickets), _count(any_store, ticket_events), _count(any_store, audit_log))
    with pytest.raises(DuplicateExternalIdError) as caught:
        _create(any_store, **change)
    err = caught.value
    assert err.status == 409 and err.external_id == "12345-20261201-0001" and err.ticket_id == first.id
    assert err.fields == [field]
    assert f"ticket {first.id}" in err.message and "12345-20261201-0001" in err.message and field in err.message
    after = (_count(any_store, tickets), _count(any_store, ticket_events), _count(any_store, audit_log))
    assert after == before


def test_the_point_is_compared_in_wgs84_at_storage_precision(any_store):
    from gridgis.crs import STORAGE_DECIMALS

    first = _create(any_store)
    lon, _lat = point_in(1, 1)
    nudged = _create(any_store, lon=lon + 0.4 * 10**-STORAGE_DECIMALS)  # the same stored point
    assert nudged.id == first.id


def test_reports_without_external_id_are_never_deduplicated(any_store):
    a = _create(any_store, external_id=None)
    b = _create(any_store, external_id=None)
    assert a.id != b.id


def test_import_uses_the_same_rule(any_store):
    first = _create(any_store)
    created, rejected = any_store.create_many(
        [
            _report(),  # the same report: already stored, nothing added
            _report(description="另一件事"),  # same id, other content: refused, naming the ticket
            _report(external_id="B-1"),
            _report(external_id="B-1"),  # repeated within the file with the same content: stored once
            _report(external_id="B-2"),
            _report(external_id="B-2", channel="wechat"),  # repeated with other content: refused
        ]
    )
    assert [t.external_id for t in created] == ["B-1", "B-2"]
    reasons = {r["index"]: r["reason"] for r in rejected}
    assert sorted(reasons) == [0, 1, 3, 5]
    assert reasons[0] == f"already imported as ticket {first.id}"
    assert f"ticket {first.id}" in reasons[1] and "description" in reasons[1]
    assert reasons[3] == "already in this import (row 2)"
    assert "row 4" in reasons[5] and "channel" in reasons[5]
    assert _count(any_store, tickets) == 3


def test_import_rechecks_inside_its_transaction(any_store):
    """A ticket another writer stores after the import looked the ids up is not stored again."""

    def meanwhile(_n: int) -> None:  # called once per report, after the look-up, before the insert
        if _count(any_store, tickets, tickets.c.external_id == "RACE-1") == 0:
            _create(any_store, external_id="RACE-1")

    created, rejected = any_store.create_many(
        [_report(external_id="RACE-1"), _report(external_id="RACE-2")], progress=meanwhile
    )
    assert [t.external_id for t in created] == ["RACE-2"]
    assert rejected[0]["index"] == 0 and rejected[0]["reason"].startswith("already imported as ticket")
    assert _count(any_store, tickets, tickets.c.external_id == "RACE-1") == 1


def _race(store, reports):
    """Submit ``reports`` (one per thread) at once; the outcomes (Submitted or the error) in order."""
    barrier = threading.Barrier(len(reports))
    out: list = [None] * len(reports)

    def post(i: int) -> None:
        report = dict(reports[i])
        barrier.wait()
        try:
            out[i] = store.submit(report.pop("lon"), report.pop("lat"), **report)
        except Exception as err:  # noqa: BLE001 - kept and asserted on
            out[i] = err

    workers = [threading.Thread(target=post, args=(i,)) for i in range(len(reports))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    return out


@pytest.mark.parametrize("rounds", [3])
def test_concurrent_posts_of_one_report_store_one_ticket(any_store, rounds):
    for n in range(rounds):
        ext = f"RACE-{n}"
        out = _race(any_store, [_report(external_id=ext)] * 8)
        assert all(not isinstance(o, Exception) for o in out), out
        assert len({o.ticket.id for o in out}) == 1
        assert sorted(o.replayed for o in out) == [False] + [True] * 7
        assert _count(any_store, tickets, tickets.c.external_id == ext) == 1


def test_concurrent_posts_with_other_content_store_one_and_refuse_the_rest(any_store):
    reports = [_report(external_id="RACE-X", description=f"第{i}次") for i in range(6)]
    out = _race(any_store, reports)
    stored = [o for o in out if not isinstance(o, Exception)]
    refused = [o for o in out if isinstance(o, DuplicateExternalIdError)]
    assert len(stored) == 1 and len(refused) == 5, out
    assert {e.ticket_id for e in refused} == {stored[0].ticket.id}
    assert _count(any_store, tickets, tickets.c.external_id == "RACE-X") == 1


def test_an_import_and_posts_at_once_store_each_external_id_once(any_store):
    ids = [f"MIX-{i}" for i in range(20)]
    done: list = []

    def importer() -> None:
        done.append(any_store.create_many([_report(external_id=e) for e in ids], chunk=5))

    thread = threading.Thread(target=importer)
    thread.start()
    _race(any_store, [_report(external_id=e) for e in ids[::3]])
    thread.join(60)
    with any_store.engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(tickets.c.external_id, sa.func.count())
                .where(tickets.c.external_id.in_(ids))
                .group_by(tickets.c.external_id)
            ).all()
        )
    assert counts == dict.fromkeys(ids, 1)


def test_external_ids_are_compared_as_trimmed_text_and_refused_when_too_wide(any_store):
    from gridgis.errors import ValidationError

    first = _create(any_store, external_id=" 7 ")
    assert first.external_id == "7" and _create(any_store, external_id=7).id == first.id
    assert _create(any_store, external_id="  ").external_id is None  # blank: no external id
    before = _count(any_store, tickets)
    with pytest.raises(ValidationError, match="at most 100"):
        _create(any_store, external_id="x" * 101)
    created, rejected = any_store.create_many([_report(external_id="y" * 101)])
    assert created == [] and "at most 100" in rejected[0]["reason"]
    assert _count(any_store, tickets) == before
