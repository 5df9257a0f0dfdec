"""The closed loop as a pure state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.errors import TransitionError, ValidationError
from gridgis.tickets import loop
from gridgis.tickets.loop import Ticket, apply, next_level

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def fresh(**kw) -> Ticket:
    base = {
        "matter_code": "M11",
        "lon": 116.4,
        "lat": 39.9,
        "received_at": T0,
        "id": 7,
        "level": "micro_grid",
        "respond_due": T0 + timedelta(minutes=20),
        "reply_due": T0 + timedelta(minutes=30),
        "coordinate_due": T0 + timedelta(hours=4),
        "solve_due": T0 + timedelta(days=1),
    }
    base.update(kw)
    return Ticket(**base)


def run(ticket, *steps):
    events = []
    for i, (action, params) in enumerate(steps):
        ticket, ev = apply(ticket, action, actor="网格员", at=T0 + timedelta(minutes=10 * (i + 1)), **params)
        events.append(ev)
    return ticket, events


def test_happy_path_walks_all_seven_states_and_records_each_step():
    t, events = run(
        fresh(),
        ("triage", {}),
        ("dispatch", {"department": "城管执法中队"}),
        ("accept", {}),
        ("resolve", {}),
        ("rate", {"rating": 4}),
        ("close", {}),
    )
    assert [e.to_status for e in events] == ["triaged", "dispatched", "accepted", "resolved", "rated", "closed"]
    assert [e.from_status for e in events] == ["received", "triaged", "dispatched", "accepted", "resolved", "rated"]
    assert all(e.actor == "网格员" for e in events)
    assert t.status == "closed" and t.rating == 4 and t.on_time is True and t.version == 7
    assert t.close_reason == "rated"


@pytest.mark.parametrize(
    "status, action",
    [
        ("received", "accept"),
        ("received", "resolve"),
        ("triaged", "close"),
        ("closed", "triage"),
        ("rated", "escalate"),
        ("resolved", "send_back"),
        ("received", "resume"),
        ("closed", "merge"),
    ],
)
def test_invalid_transitions_are_refused_naming_ticket_and_states(status, action):
    with pytest.raises(TransitionError) as info:
        apply(fresh(status=status), action, actor="x", at=T0)
    msg = str(info.value)
    assert "ticket 7" in msg and status in msg and action in msg


def test_send_back_returns_to_triage_and_needs_a_reason():
    t, _ = run(fresh(), ("triage", {}), ("dispatch", {}))
    with pytest.raises(ValidationError, match="退回"):
        apply(t, "send_back", actor="部门", at=T0)
    back, ev = apply(t, "send_back", actor="部门", at=T0, note="不属于本部门职责")
    assert back.status == "triaged" and ev.note == "不属于本部门职责"


def test_escalation_climbs_the_chain_and_stops_at_the_department():
    t = fresh(status="triaged")
    levels = []
    for _ in range(4):
        t, ev = apply(t, "escalate", actor="系统", at=T0)
        levels.append((ev.data["from_level"], ev.data["to_level"]))
    assert levels == [("micro_grid", "grid"), ("grid", "community"), ("community", "street"), ("street", "department")]
    assert t.status == "dispatched" and t.escalations == 4 and next_level(t.level) is None
    with pytest.raises(TransitionError, match="top level"):
        apply(t, "escalate", actor="系统", at=T0)


def test_overdue_escalation_takes_new_deadlines_and_marks_the_ticket_late():
    new_due = T0 + timedelta(days=3)
    t, ev = apply(
        fresh(status="dispatched"),
        "escalate",
        actor="系统",
        at=T0 + timedelta(days=2),
        reason="overdue",
        deadlines={"solve_due": new_due},
    )
    assert t.overdue and t.solve_due == new_due and ev.data["reason"] == "overdue"
    assert loop.is_overdue(fresh(status="accepted"), T0 + timedelta(days=2))
    assert not loop.is_overdue(fresh(status="resolved"), T0 + timedelta(days=2))


def test_suspension_resumes_to_the_previous_state_with_deadlines_moved_by_the_pause():
    t = fresh(status="accepted")
    s, _ = apply(t, "suspend", actor="社区", at=T0 + timedelta(hours=1), note="等待鉴定结果")
    assert s.status == "suspended" and s.resume_status == "accepted"
    r, ev = apply(s, "resume", actor="社区", at=T0 + timedelta(hours=5))
    assert r.status == "accepted" and r.solve_due == t.solve_due + timedelta(hours=4)
    assert ev.data["paused_s"] == 4 * 3600


def test_merge_closes_a_duplicate_into_its_master():
    t, _ev = apply(fresh(status="received"), "merge", actor="分析员", at=T0, master_id=3)
    assert (t.status, t.close_reason, t.master_id) == ("closed", "merged", 3)
    with pytest.raises(ValidationError, match="master"):
        apply(fresh(), "merge", actor="x", at=T0, master_id=7)


def test_rating_must_be_one_to_five():
    t = fresh(status="resolved", resolved_at=T0)
    for bad in (0, 6, "5", None, True):
        with pytest.raises(ValidationError, match="1–5"):
            apply(t, "rate", actor="市民", at=T0, rating=bad)


def test_late_resolution_is_not_on_time_and_reopen_clears_it():
    late, _ = apply(fresh(status="accepted"), "resolve", actor="x", at=T0 + timedelta(days=2))
    assert late.on_time is False
    again, _ = apply(late, "reopen", actor="市民", at=T0 + timedelta(days=2), note="没有修好")
    assert again.status == "accepted" and again.on_time is None


def test_extension_needs_a_later_deadline_and_a_reason():
    t = fresh(status="accepted")
    with pytest.raises(ValidationError):
        apply(t, "extend", actor="x", at=T0, note="材料不全", solve_due=T0)
    e, ev = apply(t, "extend", actor="x", at=T0, note="需要协调产权单位", solve_due=T0 + timedelta(days=5))
    assert e.status == "accepted" and e.solve_due == T0 + timedelta(days=5) and ev.from_status == ev.to_status


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(loop.TRANSITIONS)), max_size=25))
def test_any_action_sequence_keeps_the_ticket_consistent(actions):
    t = fresh()
    params = {
        "rate": {"rating": 3},
        "merge": {"master_id": 1},
        "send_back": {"note": "n"},
        "suspend": {"note": "n"},
        "extend": {"note": "n"},
    }
    for i, action in enumerate(actions):
        p = dict(params.get(action, {}))
        note = p.pop("note", "")
        if action == "extend":
            p["solve_due"] = (t.solve_due or T0) + timedelta(hours=1)
        try:
            new, ev = apply(t, action, actor="x", at=T0 + timedelta(minutes=i), note=note, **p)
        except TransitionError:
            assert t.status not in loop.TRANSITIONS[action][0] or action == "escalate"
            continue
        assert ev.from_status == t.status and ev.to_status == new.status and new.version == t.version + 1
        assert new.status in loop.STATES
        assert (new.status == "closed") == (new.closed_at is not None)
        assert (new.status == "suspended") == (new.suspended_at is not None)
        t = new
