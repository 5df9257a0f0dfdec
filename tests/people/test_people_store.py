"""Organisations, persons and assignments in a real store (SQLite and PostGIS), placed by the routing index."""

from __future__ import annotations

import pytest

from gridgis.errors import NotFoundError, ValidationError
from gridgis.people.model import person_kind_of
from gridgis.people.store import PeopleStore, import_members, org_code_for
from tests.people.conftest import add

B1 = "310115001001Q001B001"


def test_party_tree_is_persisted_with_stable_codes_and_edits_survive_a_resync(people_store):
    orgs = people_store.orgs()
    kinds = {o["kind"] for o in orgs}
    assert {"street_committee", "community_committee", "building_group"} <= kinds
    group = people_store.org(org_code_for("building_group", extra=B1))
    assert group["building_code"] == B1 and group["community_code"] == "310115001001"
    # every building appears under exactly one building group
    groups = [o["building_code"] for o in orgs if o["kind"] == "building_group"]
    assert sorted(groups) == sorted(set(groups)) and len(groups) == 6
    people_store.edit_org(group["code"], name="一号楼党小组（改）")
    again = people_store.sync_orgs()
    assert again["created"] == 0 and again["updated"] == len(orgs)
    assert people_store.org(group["code"])["name"] == "一号楼党小组（改）"
    assert people_store.org(group["code"])["source"] == "edited"


def test_a_dry_run_sync_counts_the_same_and_stores_nothing(people_store):
    before = people_store.orgs()
    assert people_store.sync_orgs(commit=False) == {"created": 0, "updated": len(before), "stale": 0}
    assert people_store.orgs() == before  # no version bumped, nothing touched


def test_central_household_and_cobuilding_unit(people_store):
    group = org_code_for("building_group", extra=B1)
    h = people_store.add_org("central_household", "王伟党员中心户", group, building_code=B1)
    assert h["community_code"] == "310115001001" and h["parent_code"] == group
    u = people_store.add_org("cobuilding_unit", "区卫健委", "ORG-310115001001", communities=["310115001001"])
    assert u["properties"]["paired_communities"] == ["310115001001"]
    with pytest.raises(NotFoundError, match="ORG-NOPE"):
        people_store.add_org("central_household", "x", "ORG-NOPE")
    with pytest.raises(ValidationError, match="organisation kind"):
        people_store.add_org("club", "x", None)


def test_person_placed_by_building_code_and_by_address(people_store):
    by_code = people_store.person(add(people_store, name="王伟", category="在职党员", building_code=B1, unit=2))
    assert by_code["placed"] and by_code["member_kind"] == "in_service" and by_code["unit"] == 2
    assert by_code["micro_grid_code"].startswith(by_code["grid_code"]) and by_code["grid_code"].startswith(
        "310115001001"
    )
    # members join their building's party group (every member sits in one)
    assert by_code["org_code"] == org_code_for("building_group", extra=B1)
    by_addr = people_store.person(add(people_store, name="李娜", category="离退休", address="梅园一村3号楼1单元"))
    assert by_addr["placed"] and by_addr["building_code"] == "310115001001Q001B003" and by_addr["confidence"] >= 0.6


def test_unresolved_address_is_kept_unplaced_with_the_reason(people_store):
    pid = add(people_store, name="赵强", category="志愿者", address="不存在的花园99号楼")
    p = people_store.person(pid)
    assert not p["placed"] and "not found" in p["unplaced_reason"] and p["grid_code"] is None
    assert [x["id"] for x in people_store.persons(placed=False)] == [pid]


def test_bad_fields_are_clear_errors():
    with pytest.raises(ValidationError, match="category"):
        person_kind_of("外星人")


def test_assignments_are_checked_against_the_layers(people_store):
    pid = add(people_store, name="陈静", category="志愿者", building_code=B1, unit=1)
    a = people_store.assign(pid, "unit", f"{B1}-U1")
    assert a["grid_code"] and a["level"] == "unit"
    with pytest.raises(ValidationError, match="units 1..2"):
        people_store.assign(pid, "unit", f"{B1}-U9")
    with pytest.raises(ValidationError, match="not in the buildings layer"):
        people_store.assign(pid, "building", "310115001001Q001B999")
    with pytest.raises(ValidationError, match="already answers"):
        people_store.assign(pid, "unit", f"{B1}-U1")
    with pytest.raises(NotFoundError):
        people_store.assign(99999, "building", B1)


def test_members_import_csv_with_chinese_headers_keeps_unresolved_rows(people_store, tmp_path):
    f = tmp_path / "党员名册.csv"
    f.write_text(
        "姓名,类别,住址,楼栋,单元,单位,电话,备注\n"
        "王伟,在职党员,,310115001001Q001B002,1,区卫健委,13800001111,\n"
        "李娜,离退休党员,梅园一村4号楼,,,,13800002222,\n"
        "张三,流动党员,火星路1号,,,,,\n"
        ",直管党员,梅园一村1号楼,,,,,\n"
        "刘洋,外星人,梅园一村1号楼,,,,,\n",
        encoding="utf-8-sig",
    )
    report = import_members(people_store, f)
    assert report["imported"] == 3 and report["placed"] == 2
    assert [u["row"] for u in report["unplaced"]] == [4] and report["unplaced"][0]["name"] == "张三"
    assert [r["row"] for r in report["rejected"]] == [5, 6]
    assert report["unknown_headers"] == ["备注"]
    kinds = {p["name"]: p["member_kind"] for p in people_store.persons()}
    assert kinds == {"王伟": "in_service", "李娜": "retired", "张三": "mobile"}


def test_members_import_xlsx_and_reimport_by_ref_updates(people_store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "姓名", "类别", "楼栋", "电话"])
    ws.append(["A1", "王伟", "直管党员", "310115001001Q001B005", 13800001111])
    path = tmp_path / "members.xlsx"
    wb.save(path)
    first = import_members(people_store, path)
    ws["D2"] = "310115001001Q001B006"
    wb.save(path)
    second = import_members(people_store, path)
    assert first["ids"] == second["ids"]
    p = people_store.person(first["ids"][0])
    assert p["building_code"] == "310115001001Q001B006" and p["phone"] == "13800001111"


@pytest.mark.postgis
def test_store_round_trip_on_postgis(make_repository, small_city, small_placer):
    repo = make_repository("postgis")
    repo.write_city(small_city, author="test", message="small city")
    store = PeopleStore(repo, placer=small_placer)
    assert store.sync_orgs()["created"] > 0
    pid = add(store, name="王伟", category="在职党员", building_code=B1, unit=1)
    store.assign(pid, "building", B1)
    frame = store.assignments_frame("310115001001")
    assert list(frame["person_id"]) == [pid] and frame["name"].iloc[0] == "王伟"
    from gridgis.people import wishes as W
    from gridgis.people.intake import intake_orders

    w = W.post_wish(store, title="代买药品", building_code=B1)
    for action, kw in (("dispatch", {}), ("claim", {"person_id": pid}), ("fulfil", {}), ("confirm", {})):
        w = W.transition_wish(store, w["id"], action, actor="t", **kw)  # row-locked (FOR UPDATE) on PostGIS
    assert w["status"] == "confirmed" and list(store.activities_frame()["item"]) == ["wish_fulfilled"]
    order = {
        "工单编号": "P-1",
        "来电时间": "2026-09-30 10:00:00",
        "诉求内容": "垃圾桶满溢",
        "诉求地址": "梅园一村1号楼",
        "类别": "垃圾清运",
    }
    assert intake_orders(store, [order])["ticketed"] == 1 and intake_orders(store, [order])["skipped"] == 1


def test_every_boundary_commit_moves_the_people_of_moved_buildings(people_store):
    """The one write path (editing.service.commit: operations, QGIS saves, imports, align apply) runs the
    people follow-up itself, audited under the boundary write's author."""
    import sqlalchemy as sa

    from gridgis.api.routes.editing import _with_micro_grids
    from gridgis.editing import operations, service

    repo = people_store.repository
    home = "310115001001Q001B006"
    pid = add(people_store, name="褚志愿", category="志愿者", building_code=home, unit=1)
    people_store.assign(pid, "unit", f"{home}-U1")
    old = people_store.person(pid)["grid_code"]
    for grid in sorted(set(repo.read_layer("grids")["code"]) - {old}):
        grids = repo.read_layer("grids", filters={"community_code": grid[:12]})
        buildings = repo.read_layer("buildings", codes=[home])
        try:
            edits = _with_micro_grids(repo, operations.transfer_buildings(grids, buildings, [home], grid))
            gen = service.commit(repo, edits, "cli:planner", "hand building 6 over")
        except ValidationError:  # not a neighbour of the building: try the next grid
            continue
        break
    else:
        raise AssertionError("no grid accepted the building")
    assert people_store.person(pid)["grid_code"] == grid
    kept = people_store.assignments_frame()
    assert kept.loc[kept["person_id"] == pid, "grid_code"].tolist() == [grid]
    with repo.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT principal, method, path, codes FROM audit_log WHERE action = 'people-follow'")
        ).one()
    assert row.principal == "cli:planner" and row.path == f"generation {gen.id}" and home in str(row.codes)


@pytest.mark.parametrize("backend", ["sqlite", "postgis"])
def test_a_write_and_its_audit_entry_commit_or_roll_back_together(make_repository, small_city, small_placer, backend):
    import sqlalchemy as sa

    repo = make_repository(backend)
    repo.write_city(small_city, author="test", message="small city")
    store = PeopleStore(repo, placer=small_placer)
    store.sync_orgs()

    def counts():
        with repo.engine.connect() as conn:
            persons = conn.execute(sa.text("SELECT count(*) FROM people_persons")).scalar_one()
            audits = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'person-add'")).scalar_one()
        return persons, audits

    with pytest.raises(RuntimeError), store.audited("cli:t", "person-add") as entry:
        pid = add(store, name="蒋", category="志愿者", building_code=B1, unit=1)
        assert store.person(pid)["name"] == "蒋"  # the block reads its own write
        raise RuntimeError("the audit write fails")
    assert counts() == (0, 0)
    with store.audited("cli:t", "person-add") as entry:
        pid = add(store, name="蒋", category="志愿者", building_code=B1, unit=1)
        entry.codes, entry.message = [B1], f"person {pid}"
    assert counts() == (1, 1)
