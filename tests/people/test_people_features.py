"""Responsibility, wishes, points, assessment, care, roster and 12345 intake on a real store (small city)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from gridgis.auth.tokens import Principal
from gridgis.errors import TransitionError, ValidationError
from gridgis.people import points as P
from gridgis.people import wishes as W
from gridgis.people.care import (
    add_care,
    add_door_tasks,
    care_records,
    care_row,
    complete_task,
    door_tasks,
    task_progress,
    visible_care,
)
from gridgis.people.intake import intake_orders, queue, resolve_queued, sign, verify_signature
from gridgis.people.roster import build_roster, pseudonymise, write_html, write_xlsx
from gridgis.people.service import coverage_report, points_ledger
from tests.people.conftest import add

SH = ZoneInfo("Asia/Shanghai")
B = [f"310115001001Q001B00{i}" for i in range(1, 7)]


def _micro(store):
    return [m for m in store.placer.index.m_code[:-1].tolist()]


def test_coverage_finds_uncovered_buildings_units_overassigned_and_missing_workers(people_store):
    s = people_store
    worker = add(s, name="范淑珍", category="专职网格员", work_area=s.placer.buildings.at[B[0], "grid_code"])
    for code in B[:3]:
        s.assign(worker, "building", code)
    vol = add(s, name="陈静", category="志愿者", building_code=B[3], unit=1)
    s.assign(vol, "unit", f"{B[3]}-U1")
    s.assign(vol, "unit", f"{B[3]}-U2")
    s.assign(vol, "unit", f"{B[4]}-U1")
    mg = _micro(s)
    mw = add(s, name="蒋金凤", category="微网格员", work_area=mg[0])
    s.assign(mw, "micro_grid", mg[0])
    report = coverage_report(s, limits={"unit": 2})
    states = report.states["state"].to_dict()
    assert [states[c] for c in B] == ["building", "building", "building", "units", "partial", "none"]
    assert report.uncovered_buildings == [B[4], B[5]]
    assert report.uncovered_units == [f"{B[4]}-U2", f"{B[5]}-U1", f"{B[5]}-U2"]
    assert [(o["name"], o["level"], o["count"]) for o in report.over_assigned] == [("陈静", "unit", 3)]
    assert report.micro_grids_without_worker == mg[1:]
    assert report.share_covered == pytest.approx(4 / 6)


def test_a_patch_alone_does_not_cover_a_building(people_store):
    s = people_store
    grid = s.placer.buildings.at[B[5], "grid_code"]
    c = add(s, name="李委员", category="两委成员", work_area="310115001001")
    s.assign(c, "patch", grid)
    assert coverage_report(s).states.at[B[5], "state"] == "patch"


def test_wish_goes_through_the_loop_with_history_and_points(people_store):
    s = people_store
    near = add(s, name="王伟", category="在职党员", building_code=B[0], unit=1)
    far = add(s, name="李娜", category="志愿者", building_code=B[5], unit=1)
    wish = W.post_wish(
        s, title="更换楼道灯泡", building_code=B[0], resident="张阿姨", phone="13800001111", posted_by="网格员"
    )
    assert wish["status"] == "posted" and wish["org_code"] and wish["grid_code"]
    suggested = W.suggest_claimers(s, wish["id"])
    assert [x["id"] for x in suggested] == [near, far] and suggested[0]["walk_m"] < suggested[1]["walk_m"]
    with pytest.raises(TransitionError, match="cannot claim"):
        W.transition_wish(s, wish["id"], "claim", actor="x", person_id=near)
    W.transition_wish(s, wish["id"], "dispatch", actor="社区")
    with pytest.raises(ValidationError, match="person_id"):
        W.transition_wish(s, wish["id"], "claim", actor="x")
    W.transition_wish(s, wish["id"], "claim", actor="王伟", person_id=near)
    W.transition_wish(s, wish["id"], "fulfil", actor="王伟")
    at = datetime(2026, 9, 3, 10, tzinfo=SH)
    done = W.transition_wish(s, wish["id"], "confirm", actor="张阿姨", at=at)
    assert done["status"] == "confirmed" and done["version"] == 5
    events = W.get_wish(s, wish["id"], with_events=True)["events"]
    assert [e["to_status"] for e in events] == ["posted", "dispatched", "claimed", "fulfilled", "confirmed"]
    acts = s.activities_frame()
    assert list(acts["item"]) == ["wish_fulfilled"] and int(acts["person_id"].iloc[0]) == near
    assert points_ledger(s, "2026-09")["points"].tolist() == [6.0]  # 310115's rule: 6 points a wish


def test_a_wish_that_cannot_be_placed_is_refused(people_store):
    with pytest.raises(ValidationError, match="cannot be placed"):
        W.post_wish(people_store, title="帮忙", address="不存在的花园")


def test_points_rules_monthly_cap_stars_redemption_and_awards():
    at = [datetime(2026, m, 5, 9, tzinfo=SH) for m in (1, 1, 1, 1, 1, 1, 2, 4, 5, 6)]
    acts = pd.DataFrame(
        {
            "person_id": [1] * 7 + [2] * 3,
            "item": ["duty_shift"] * 6 + ["redemption"] + ["wish_fulfilled"] * 3,
            "at": at,
            "quantity": [1] * 6 + [5] + [1] * 3,
            "name": ["甲"] * 7 + ["乙"] * 3,
            "org_code": ["O1"] * 10,
            "community_code": ["999999001001"] * 7 + ["310115001001"] * 3,
        }
    )
    monthly = P.monthly_scores(acts)
    jan = monthly[(monthly["person_id"] == 1) & (monthly["month"] == "2026-01")]
    assert jan["points"].tolist() == [15.0]  # 6 shifts × 3 = 18, capped at 15 a month (default county)
    stars = P.quarterly_stars(monthly)
    assert stars.set_index(["person_id", "quarter"])["stars"].to_dict() == {(1, "2026Q1"): 3, (2, "2026Q2"): 3}
    red = P.half_year_redemption(acts, "2026H1").set_index("person_id")
    assert red.at[1, "earned"] == 15 and red.at[1, "redeemed"] == 5 and red.at[1, "redeemable"] == 10
    assert red.at[2, "redeemable"] == pytest.approx(18 * 0.8)  # Pudong redeems at most 80 %
    with pytest.raises(ValidationError, match="half year"):
        P.half_year_redemption(acts, "2026H3")
    with pytest.raises(ValidationError, match="activity item"):
        P.check_item("sleeping")


def test_assessment_indices_follow_the_documented_formula():
    from gridgis.people.assessment import monthly_indices, summarise

    t = pd.DataFrame(
        {
            "matter_code": ["M17", "M27", "M23", "M23"],
            "micro_grid_code": ["g1x", "g1x", "g1x", "g2x"],
            "grid_code": ["G1", "G1", "G1", "G2"],
            "community_code": ["C", "C", "C", "C"],
            "received_at": pd.to_datetime(["2026-09-02T01:00Z"] * 4),
            "resolved_at": pd.to_datetime(["2026-09-03T01:00Z", None, "2026-09-03T01:00Z", "2026-09-03T01:00Z"]),
            "solve_due": pd.to_datetime(["2026-09-04T01:00Z"] * 4),
            "overdue": [False, True, False, False],
            "status": ["closed", "dispatched", "closed", "closed"],
            "rating": [5, None, 3, 4],
            "close_reason": [None] * 4,
        }
    )
    m = monthly_indices(t, {"G1": 200, "G2": 100, "G3": 300}).set_index("grid_code")
    assert m.at["G1", "safety"] == 96.0  # 100 − 8 × (1 per 100 households … 200 households → 0.5) = 96
    assert m.at["G1", "environment"] == 93.0  # 100 − 4 × 0.5 − 5 × 1 overdue
    assert m.at["G1", "service"] == pytest.approx(100 * (0.6 * 1 + 0.4 * 2 / 3), abs=0.01)
    assert m.at["G1", "happiness"] == 75.0  # mean rating 4 → 100 × 3/4
    assert m.at["G3", "service"] == 100 and pd.isna(m.at["G3", "happiness"])
    year = summarise(m.reset_index(), "2026", "grid")
    assert set(year["grade"]) <= {"优秀", "良好", "合格", "不合格"} and year["rank_in_community"].notna().all()


def test_care_is_visible_only_to_those_responsible(people_store):
    s = people_store
    ids = add_care(
        s, [care_row(s, resident="孙奶奶", category="elderly_alone", needs="助餐", building_code=B[0], unit=1)]
    )
    rec = care_records(s, building_code=B[0])
    assert [r["id"] for r in rec] == ids
    mg = rec[0]["micro_grid_code"]
    in_scope = Principal("网格员甲", "worker", (mg[:15],))
    other = Principal("网格员乙", "worker", ("310115001001009",))
    planner = Principal("规划", "planner", ("*",))
    assert len(visible_care(s, in_scope, rec)[0]) == 1
    assert visible_care(s, other, rec) == ([], 1)
    assert visible_care(s, planner, rec) == ([], 1)
    assert visible_care(s, None, rec) == ([], 1)
    # the volunteer answering for the unit (account = token name) sees it
    vol = add(s, name="陈静", category="志愿者", building_code=B[0], unit=1, account="陈静的账号")
    s.assign(vol, "unit", f"{B[0]}-U1")
    assert len(visible_care(s, Principal("陈静的账号", "reporter", ()), rec)[0]) == 1
    with pytest.raises(ValidationError, match="care category"):
        care_row(s, resident="x", category="rich", building_code=B[0])


def test_door_knocking_tasks_track_completion(people_store):
    s = people_store
    mg = s.placer.buildings.at[B[0], "micro_grid_code"]
    ids = add_door_tasks(s, mg, "汛前敲门行动")
    assert len(ids) == int((s.placer.buildings["micro_grid_code"] == mg).sum())
    complete_task(s, ids[0], by="蒋金凤")
    with pytest.raises(TransitionError, match="already done"):
        complete_task(s, ids[0], by="蒋金凤")
    prog = task_progress(door_tasks(s))
    assert prog == [{"micro_grid_code": mg, "tasks": len(ids), "done": 1, "share_done": round(1 / len(ids), 4)}]


def test_roster_lists_people_living_in_each_micro_grid(people_store, tmp_path):
    s = people_store
    p1 = add(s, name="王伟", category="在职党员", building_code=B[0], unit=1, post="防汛值守", phone="13800001111")
    add(s, name="刘退休", category="离退休党员", building_code=B[0], unit=1)
    add(s, name="李娜", category="志愿者", building_code=B[0], unit=2, post="物资配送")
    add_care(
        s,
        [
            care_row(
                s, resident="孙奶奶", category="limited_mobility", needs="紧急撤离需协助", building_code=B[0], unit=1
            )
        ],
    )
    roster = build_roster(s, "310115001001", "flood").to_dict()
    mg = s.placer.buildings.at[B[0], "micro_grid_code"]
    entry = next(m for m in roster["micro_grids"] if m["micro_grid_code"] == mg)
    assert [p["name"] for p in entry["members"]] == ["王伟"]  # in-service members only
    assert entry["members"][0]["post"] == "防汛值守" and entry["members"][0]["id"] == p1
    assert [p["name"] for p in entry["volunteers"]] == ["李娜"]
    assert [v["resident"] for v in entry["vulnerable"]] == ["孙奶奶"]
    assert roster["summary"]["micro_grids"] == 12
    secret = pseudonymise(roster, "salt")
    e2 = next(m for m in secret["micro_grids"] if m["micro_grid_code"] == mg)
    assert e2["members"][0]["name"].startswith("P-") and e2["members"][0]["phone"] is None
    out = write_xlsx(roster, tmp_path / "r.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(out)
    assert wb.sheetnames == ["汇总", "人员名册", "关爱对象", "就近站点"]
    assert any(row[3] == "王伟" for row in wb["人员名册"].iter_rows(values_only=True))
    html = write_html(roster, s.placer.city["micro_grids"], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<svg" in html and "王伟" in html and "孙奶奶" in html
    with pytest.raises(ValidationError, match="emergency kind"):
        build_roster(s, "310115001001", "zombies")


def test_intake_creates_tickets_queues_unresolved_and_is_idempotent(people_store):
    s = people_store
    orders = [
        {
            "工单编号": "12345-0001",
            "来电时间": "2026-09-30 10:15:00",
            "诉求内容": "楼道里电动车充电",
            "诉求地址": "梅园一村2号楼",
            "联系电话": "13800001111",
            "类别": "电动车",
        },
        {
            "工单编号": "12345-0002",
            "来电时间": "2026-09-30 11:00:00",
            "诉求内容": "噪音",
            "诉求地址": "火星路1号",
            "类别": "噪声扰民",
        },
        {"来电时间": "2026-09-30 11:00:00"},
    ]
    first = intake_orders(s, orders)
    assert (first["ticketed"], first["queued"], first["rejected"]) == (1, 1, 1)
    ticket = first["orders"]["ticketed"][0]
    assert ticket["matter_code"] == "M21" and ticket["confidence"] >= 0.6
    from gridgis.tickets.store import TicketStore

    t = TicketStore(s.repository).get(ticket["ticket_id"])
    assert (
        t.external_id == "12345-0001"
        and t.channel == "12345"
        and t.received_at.isoformat().startswith("2026-09-30T02:15")
    )
    again = intake_orders(s, orders[:2])
    assert (again["ticketed"], again["queued"], again["skipped"]) == (0, 0, 2)
    assert [q["order_no"] for q in queue(s)] == ["12345-0002"]
    done = resolve_queued(s, "12345-0002", building_code=B[2])
    assert done["status"] == "ticketed" and queue(s) == []
    with pytest.raises(TransitionError):
        resolve_queued(s, "12345-0002", building_code=B[2])


def test_webhook_signature():
    body = b'{"orders": []}'
    verify_signature("s3cret", body, sign("s3cret", body))
    from gridgis.errors import AuthError

    for header in (None, "sha256=00", sign("other", body)):
        with pytest.raises(AuthError):
            verify_signature("s3cret", body, header)
    with pytest.raises(AuthError, match="closed"):
        verify_signature(None, body, sign("s3cret", body))


def test_roster_of_a_street_finds_the_micro_grid_workers(people_store):
    s = people_store
    mg = s.placer.buildings.at[B[0], "micro_grid_code"]
    w = add(s, name="蒋金凤", category="微网格员", work_area=mg)
    s.assign(w, "micro_grid", mg)
    for area in ("310115001000", "310115001001", mg[:15], mg):
        entry = next(m for m in build_roster(s, area, "general").micro_grids if m["micro_grid_code"] == mg)
        assert entry["worker"] == {"id": w, "name": "蒋金凤"}, area


def test_follow_up_flags_assignments_to_removed_micro_grids_and_moved_grid_workers():
    """The one follow-up rule: residents' roles follow a moved building, grid-bound ones and those to a
    micro-grid the edit deleted are flagged; a moved building nobody answers for any more is reported."""
    import pandas as pd

    from gridgis.people.responsibility import check_coverage, follow_plan

    places = ["micro_grid_code", "grid_code", "community_code", "street_code"]
    buildings = pd.DataFrame(
        {"micro_grid_code": ["G2M1", "G1M1"], "grid_code": ["G2", "G1"], "community_code": ["C", "C"]}
        | {"street_code": ["S", "S"], "units": [2, 1]},
        index=pd.Index(["B1", "B2"], name="code"),
    )
    persons = pd.DataFrame(
        [{"id": 1, "building_code": "B1", "micro_grid_code": "G1M2", "grid_code": "G1", "community_code": "C"}]
    ).assign(street_code="S")
    cols = ["id", "person_id", "level", "target", "grid_code", "community_code", "flag", "kind", "name", "account"]
    assignments = pd.DataFrame(
        [
            (1, 9, "building", "B1", "G1", "C", None, "grid_worker", "吴网格", None),
            (2, 1, "unit", "B1-U1", "G1", "C", None, "volunteer", "郑志愿", None),
            (3, 8, "micro_grid", "G1M2", "G1", "C", None, "micro_grid_worker", "卫东", None),
            (4, 7, "patch", "G1", "G1", "C", None, "committee", "冯委员", None),
        ],
        columns=cols,
    )
    plan = follow_plan(buildings, persons, assignments, {"G1M2"})
    assert plan["persons"] == {1: dict(zip(places, ["G2M1", "G2", "C", "S"], strict=True))}
    assert {f["assignment"] for f in plan["report"]["assignments_flagged"]} == {1, 3}
    assert [k["assignment"] for k in plan["report"]["assignments_kept"]] == [2]
    assert plan["report"]["uncovered_buildings"] == []  # the volunteer still answers for a unit of B1
    assert "no longer exists" in plan["assignments"][3]["flag"] and "吴网格" not in plan["assignments"][1]["flag"]
    flagged = assignments.assign(flag=[plan["assignments"].get(i, {}).get("flag") for i in assignments["id"]])
    report = check_coverage(buildings, flagged, ["G2M1", "G1M1"])
    assert report.states.at["B1", "state"] == "partial"  # the flagged 包栋 no longer covers it
    assert {f["assignment"] for f in report.flagged} == {1, 3}
