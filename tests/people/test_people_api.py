"""The people API over real HTTP (uvicorn) on a stored small city: scopes, privacy, audit, webhook, boundary follow-up."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from gridgis.api import create_app
from gridgis.auth.store import TokenStore, ensure_tables
from gridgis.people.intake import sign
from gridgis.settings import get_settings
from gridgis.storage import Repository
from tests.support.tickets import live_server

B = [f"310115001001Q001B00{i}" for i in range(1, 7)]
SECRET = "test-hmac-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory, people_template):
    path = tmp_path_factory.mktemp("people-api") / "api.db"
    shutil.copyfile(people_template, path)
    url = f"sqlite:///{path}"
    repo = Repository(url)
    ensure_tables(repo.engine)
    tokens = TokenStore(repo.engine)
    grid_of = {}
    from gridgis.people.store import PeopleStore

    store = PeopleStore(repo)
    for code in B:
        grid_of[code] = store.placer.buildings.at[code, "grid_code"]
    other_grid = next(g for g in store.placer.index.g_code[:-1].tolist() if g and g != grid_of[B[0]])
    headers = {}
    for name, role, scopes in (
        ("admin", "admin", ["*"]),
        ("worker-in", "worker", [grid_of[B[0]]]),
        ("worker-out", "worker", [other_grid]),
        ("viewer", "viewer", []),
        ("reporter", "reporter", []),
    ):
        token, _ = tokens.create(name, role, scopes)
        headers[name] = {"Authorization": f"Bearer {token}"}
    app = create_app(get_settings(database_url=url), repo)
    app.state.people_store = store
    app.state.intake_hmac_secret = SECRET
    with live_server(app) as base:
        yield base, headers, grid_of, repo
    repo.dispose()


@pytest.fixture
def http(server):
    base, headers, grid_of, repo = server
    with httpx.Client(base_url=base, timeout=60) as client:
        client.tokens = headers  # type: ignore[attr-defined]
        client.grid_of = grid_of  # type: ignore[attr-defined]
        client.repo = repo  # type: ignore[attr-defined]
        yield client


def _person(http, who="admin", **body):
    r = http.post("/people", json=body, headers=http.tokens[who])
    assert r.status_code == 201, r.text
    return r.json()


def test_orgs_are_listed_and_edits_need_a_planner(http):
    r = http.get("/people/orgs", params={"community": "310115001001"})
    assert r.status_code == 200 and r.json()["count"] > 5
    code = next(o["code"] for o in r.json()["organisations"] if o["kind"] == "building_group")
    assert http.patch(f"/people/orgs/{code}", json={"name": "x"}).status_code == 401
    assert http.patch(f"/people/orgs/{code}", json={"name": "x"}, headers=http.tokens["worker-in"]).status_code == 403
    r = http.patch(f"/people/orgs/{code}", json={"name": "一号楼党小组"}, headers=http.tokens["admin"])
    assert r.status_code == 200 and r.json()["source"] == "edited"
    r = http.post(
        "/people/orgs",
        json={"kind": "cobuilding_unit", "name": "区卫健委", "communities": ["310115001001"]},
        headers=http.tokens["admin"],
    )
    assert r.status_code == 201 and r.json()["kind"] == "cobuilding_unit"


def test_personal_data_is_masked_outside_scope(http):
    p = _person(
        http,
        "worker-in",
        name="王建国",
        category="在职党员",
        building_code=B[0],
        unit=1,
        phone="13812345678",
        address="梅园一村1号楼",
    )
    mine = http.get(f"/people/{p['id']}", headers=http.tokens["worker-in"]).json()
    assert mine["name"] == "王建国" and mine["phone"] == "13812345678"
    for who in ("worker-out", "viewer"):
        other = http.get(f"/people/{p['id']}", headers=http.tokens[who]).json()
        assert (
            other["name"] == "王**" and other["phone"] == "138****5678" and other["address"] is None and other["masked"]
        )
    anon = http.get(f"/people/{p['id']}").json()
    assert anon["name"] == "王**"
    # a worker cannot add people outside the scope; an unplaceable person is a 422 naming why
    r = http.post("/people", json={"name": "李", "building_code": B[0]}, headers=http.tokens["worker-out"])
    assert r.status_code == 403
    r = http.post("/people", json={"name": "李", "address": "火星路1号"}, headers=http.tokens["admin"])
    assert r.status_code == 422 and "cannot be placed" in r.json()["detail"]


def test_assignment_scope_and_coverage_layer(http):
    p = _person(http, name="范淑珍", category="专职网格员", work_area=http.grid_of[B[0]])
    r = http.post(
        "/people/assignments",
        json={"person_id": p["id"], "level": "building", "target": B[0]},
        headers=http.tokens["worker-out"],
    )
    assert r.status_code == 403
    r = http.post(
        "/people/assignments",
        json={"person_id": p["id"], "level": "building", "target": B[0]},
        headers=http.tokens["worker-in"],
    )
    assert r.status_code == 201, r.text
    bad = http.post(
        "/people/assignments",
        json={"person_id": p["id"], "level": "unit", "target": f"{B[0]}-U7"},
        headers=http.tokens["admin"],
    )
    assert bad.status_code == 422 and "units 1..2" in bad.json()["detail"]
    cov = http.get("/people/coverage").json()
    assert cov["buildings"] == 6 and cov["states"]["building"] >= 1 and B[0] not in cov["uncovered_buildings"]
    layer = http.get("/people/coverage", params={"format": "geojson"}).json()
    by = {f["properties"]["code"]: f["properties"] for f in layer["features"]}
    assert by[B[0]]["responsibility"] == "building" and "responsible" not in by[B[0]]  # no names for anonymous readers
    named = http.get("/people/coverage", params={"format": "geojson"}, headers=http.tokens["admin"]).json()
    assert any("范淑珍" in (f["properties"].get("responsible") or "") for f in named["features"])


def test_wish_over_http_with_scope_and_audit(http):
    member = _person(http, name="周志勇", category="在职党员", building_code=B[1], unit=1)
    r = http.post(
        "/wishes", json={"title": "代买药品", "building_code": B[1], "resident": "孙奶奶", "phone": "13800005555"}
    )
    assert r.status_code == 401
    r = http.post(
        "/wishes",
        json={"title": "代买药品", "building_code": B[1], "resident": "孙奶奶", "on_behalf_of_resident": True},
        headers=http.tokens["worker-in"],
    )
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    sug = http.get(f"/wishes/{wid}/suggestions", headers=http.tokens["admin"]).json()
    assert sug["detour_factor"] == 1.3 and sug["suggestions"][0]["id"] == member["id"]
    masked = http.get(f"/wishes/{wid}/suggestions", headers=http.tokens["viewer"]).json()
    assert masked["suggestions"][0]["name"].endswith("*")
    wish_grid = http.get(f"/wishes/{wid}", headers=http.tokens["admin"]).json()["grid_code"]
    outsider = "worker-out" if wish_grid != http.grid_of[B[0]] else None
    if outsider is None:  # the building lies in worker-in's grid: the other worker is out of scope
        outsider = "worker-out"
    assert (
        http.post(f"/wishes/{wid}/transitions", json={"action": "dispatch"}, headers=http.tokens["viewer"]).status_code
        == 403
    )
    steps = [{"action": "dispatch"}, {"action": "claim", "person_id": member["id"]}, {"action": "fulfil"}]
    for body in steps:
        r = http.post(f"/wishes/{wid}/transitions", json=body, headers=http.tokens["admin"])
        assert r.status_code == 200, r.text
    stale = http.post(
        f"/wishes/{wid}/transitions", json={"action": "confirm"}, headers={**http.tokens["reporter"], "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    r = http.post(f"/wishes/{wid}/transitions", json={"action": "confirm"}, headers=http.tokens["reporter"])
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    again = http.post(f"/wishes/{wid}/transitions", json={"action": "confirm"}, headers=http.tokens["reporter"])
    assert again.status_code == 409
    events = http.get(f"/wishes/{wid}", headers=http.tokens["admin"]).json()["events"]
    assert [e["action"] for e in events] == ["post", "dispatch", "claim", "fulfil", "confirm"]
    audit = http.get("/audit", headers=http.tokens["admin"]).json()["entries"]
    assert any(e["action"] == "wish-confirm" and e["principal"] == "reporter" for e in audit)


def test_care_reads_are_filtered_and_audited(http):
    r = http.post(
        "/care",
        json={"resident": "孙奶奶", "category": "elderly_alone", "needs": "助餐", "building_code": B[0], "unit": 1},
        headers=http.tokens["worker-out"],
    )
    assert r.status_code == 403
    r = http.post(
        "/care",
        json={"resident": "孙奶奶", "category": "elderly_alone", "needs": "助餐", "building_code": B[0], "unit": 1},
        headers=http.tokens["worker-in"],
    )
    assert r.status_code == 201, r.text
    assert http.get("/care", params={"building": B[0]}).status_code == 401
    mine = http.get("/care", params={"building": B[0]}, headers=http.tokens["worker-in"]).json()
    assert mine["count"] == 1 and mine["records"][0]["needs"] == "助餐"
    other = http.get("/care", params={"building": B[0]}, headers=http.tokens["worker-out"]).json()
    assert other == {"count": 0, "withheld": 1, "records": []}
    audit = http.get("/audit", headers=http.tokens["admin"]).json()["entries"]
    reads = [e for e in audit if e["action"] == "read-care"]
    assert {e["principal"] for e in reads} >= {"worker-in", "worker-out"} and any(B[0] in e["codes"] for e in reads)


def test_roster_export_needs_scope_is_audited_and_can_be_pseudonymised(http):
    params = {"area": "310115001001", "kind": "flood"}
    assert http.get("/roster", params=params, headers=http.tokens["viewer"]).status_code == 403
    assert (
        http.get("/roster", params=params, headers=http.tokens["worker-in"]).status_code == 403
    )  # a grid scope does not cover the community
    r = http.get("/roster", params=params, headers=http.tokens["admin"])
    assert r.status_code == 200 and r.json()["summary"]["micro_grids"] == 12
    x = http.get("/roster", params={**params, "format": "xlsx", "pseudonymise": True}, headers=http.tokens["admin"])
    assert x.status_code == 200 and x.content[:2] == b"PK"
    h = http.get(
        "/roster",
        params={"area": http.grid_of[B[0]], "kind": "fire", "format": "html"},
        headers=http.tokens["worker-in"],
    )
    assert h.status_code == 200 and "<svg" in h.text
    audit = http.get("/audit", headers=http.tokens["admin"]).json()["entries"]
    assert sum(e["action"] == "export-roster" for e in audit) >= 3


def test_points_and_assessment_endpoints(http):
    r = http.get("/people/points", params={"period": "2026Q3", "area": "310115001001"}, headers=http.tokens["admin"])
    assert r.status_code == 200 and r.json()["period"] == "2026Q3"
    assert http.get("/people/points", params={"period": "2026Q3"}, headers=http.tokens["viewer"]).status_code == 403
    bad = http.get("/people/points", params={"period": "Q3"}, headers=http.tokens["admin"])
    assert bad.status_code == 422 and "period" in bad.json()["detail"]
    geo = http.get("/people/assessment", params={"period": "2026-09", "format": "geojson"})
    assert geo.status_code == 200 and len(geo.json()["features"]) == 4
    svg = http.get("/people/assessment", params={"period": "2026Q3", "format": "svg"})
    assert svg.status_code == 200 and svg.text.startswith("<svg")


def test_webhook_needs_a_valid_signature_and_is_idempotent(http):
    body = json.dumps(
        {
            "orders": [
                {
                    "工单编号": "W-1",
                    "来电时间": "2026-09-30 10:00:00",
                    "诉求内容": "垃圾桶满溢",
                    "诉求地址": "梅园一村3号楼",
                    "类别": "垃圾清运",
                }
            ]
        },
        ensure_ascii=False,
    ).encode()
    assert http.post("/intake/12345", content=body).status_code == 401
    assert (
        http.post("/intake/12345", content=body, headers={"X-Gridgis-Signature": sign("wrong", body)}).status_code
        == 401
    )
    r = http.post("/intake/12345", content=body, headers={"X-Gridgis-Signature": sign(SECRET, body)})
    assert r.status_code == 200 and r.json()["ticketed"] == 1, r.text
    r = http.post("/intake/12345", content=body, headers={"X-Gridgis-Signature": sign(SECRET, body)})
    assert r.json()["skipped"] == 1 and r.json()["ticketed"] == 0
    assert http.get("/intake/queue", headers=http.tokens["viewer"]).status_code == 403


def _commit_first(http, path, body_of_grid, exclude):
    """POST a boundary operation to the first grid that accepts it; that grid's code."""
    for g in sorted(set(http.repo.read_layer("grids")["code"])):
        if g in exclude:
            continue
        r = http.post(path, json=body_of_grid(g), headers=http.tokens["admin"])
        if r.status_code == 200:
            return g
    raise AssertionError(f"no grid accepted {path}")


def test_a_transferred_building_keeps_residents_and_flags_grid_workers(http):
    """No explicit follow-up: the boundary commit itself re-places the residents, keeps their roles, flags
    the old grid's worker, and the coverage check shows the building's new state at once."""
    admin = http.tokens["admin"]
    target = B[5]
    worker = _person(http, name="吴网格", category="专职网格员", work_area=http.grid_of[target])
    vol = _person(http, name="郑志愿", category="志愿者", building_code=target, unit=1)
    for person, level, what in ((worker, "building", target), (vol, "unit", f"{target}-U1")):
        r = http.post(
            "/people/assignments", json={"person_id": person["id"], "level": level, "target": what}, headers=admin
        )
        assert r.status_code == 201, r.text
    before = http.get("/people/coverage", headers=admin).json()
    assert target not in before["uncovered_buildings"]
    moved = _commit_first(
        http, "/operations/transfer-buildings", lambda g: {"buildings": [target], "to_grid": g}, {http.grid_of[target]}
    )
    resident = http.get(f"/people/{vol['id']}", headers=admin).json()
    assert resident["grid_code"] == moved and resident["micro_grid_code"].startswith(moved)
    cov = http.get("/people/coverage", headers=admin).json()
    flagged = {f["target"]: f for f in cov["flagged_assignments"]}
    assert flagged[target]["name"] == "吴网格" and f"to {moved}" in flagged[target]["reason"]
    assert target in cov["uncovered_buildings"]  # the volunteer's unit alone does not cover both units
    assert f"{target}-U1" not in cov["uncovered_units"]
    layer = http.get("/people/coverage", params={"format": "geojson"}).json()
    state = next(f["properties"]["responsibility"] for f in layer["features"] if f["properties"]["code"] == target)
    assert state == "partial"
    audit = http.get("/audit", params={"action": "people-follow"}, headers=admin).json()["entries"]
    entry = next(e for e in audit if target in e["codes"])
    assert entry["principal"] == "admin" and "1 flagged" in entry["message"]
    again = http.post("/people/follow", headers=admin).json()  # the explicit follow-up finds nothing left to do
    assert again["moved_buildings"] == [] and again["assignments_flagged"] == []


def test_a_transferred_compound_takes_its_people_to_the_new_grid(http):
    admin = http.tokens["admin"]
    home = B[0]
    member = _person(http, name="冯党员", category="离退休党员", building_code=home, unit=2)
    old = http.get(f"/people/{member['id']}", headers=admin).json()["grid_code"]
    compound = home[:16]
    moved = _commit_first(http, "/operations/transfer-compound", lambda g: {"compound": compound, "to_grid": g}, {old})
    now = http.get(f"/people/{member['id']}", headers=admin).json()
    from gridgis.people.placement import Placer

    routed = Placer.from_repository(http.repo).buildings.loc[home]  # where routing puts the building now
    assert str(routed["micro_grid_code"] or "").startswith(moved), dict(routed)  # the building is in a micro-grid
    assert (now["grid_code"], now["micro_grid_code"], now["building_code"]) == (
        moved,
        routed["micro_grid_code"],
        home,
    )
    cov = http.get("/people/coverage", params={"area": moved}, headers=admin).json()
    assert cov["buildings"] >= 1


def test_role_and_scope_are_checked_before_the_body(http):
    """A caller without the role, or naming an object outside its scope, gets 403 whatever the body holds;
    only a caller with rights learns (422) what is wrong with it."""
    viewer, outsider, admin = http.tokens["viewer"], http.tokens["worker-out"], http.tokens["admin"]
    bad = {
        "/people": {"name": "", "building_code": B[0], "unit": 500, "bogus": 1},
        "/people/assignments": {"person_id": "x", "level": "nonsense", "target": B[0]},
        "/care": {"category": "nope", "building_code": B[0]},
        "/care/tasks": {"micro_grid_code": "x", "per_building": "maybe"},
        "/people/orgs": {"kind": "nope", "communities": ["310115001001"]},
    }
    for path, body in bad.items():
        r = http.post(path, json=body, headers=viewer)
        assert r.status_code == 403, (path, r.text)
        assert "bogus" not in r.text and "nonsense" not in r.text
    for path in ("/people", "/people/assignments", "/care"):  # a worker whose scope does not cover B[0]
        r = http.post(path, json=bad[path], headers=outsider)
        assert r.status_code == 403 and B[0] in r.json()["detail"], (path, r.text)
    garbled = http.post("/people", content=b"{not json", headers={**viewer, "Content-Type": "application/json"})
    assert garbled.status_code == 403
    code = next(o["code"] for o in http.get("/people/orgs").json()["organisations"] if o["kind"] == "building_group")
    assert http.patch(f"/people/orgs/{code}", json={"name": 5, "x": 1}, headers=outsider).status_code == 403
    assert http.post("/wishes", json={"title": ""}, headers=viewer).status_code == 403
    # with rights, the same bodies are refused for what they are (422, naming the fields)
    r = http.post("/people/assignments", json=bad["/people/assignments"], headers=admin)
    assert r.status_code == 422 and {tuple(p["loc"])[:2] for p in r.json()["problems"]} >= {("body", "person_id")}


def _count(repo, table, where=""):
    import sqlalchemy as sa

    with repo.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} {where}")).scalar_one()


def test_a_write_and_its_audit_entry_are_one_transaction(http, monkeypatch):
    """When the audit entry cannot be written, the write is not stored either (and the reverse)."""
    import sqlalchemy as sa

    from gridgis.auth.store import AuditLog

    admin, repo = http.tokens["admin"], http.repo
    persons, audits = _count(repo, "people_persons"), _count(repo, "audit_log", "WHERE action = 'person-add'")
    wishes = _count(repo, "people_wishes")

    def refuse(self, *args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO audit_log", {}, Exception("disk I/O error"))

    monkeypatch.setattr(AuditLog, "record", refuse)
    r = http.post("/people", json={"name": "钱学明", "building_code": B[2], "unit": 1}, headers=admin)
    assert r.status_code == 503, r.text
    r = http.post("/wishes", json={"title": "修门铃", "building_code": B[2]}, headers=admin)
    assert r.status_code == 503, r.text
    monkeypatch.undo()
    assert _count(repo, "people_persons") == persons and _count(repo, "people_wishes") == wishes
    assert _count(repo, "audit_log", "WHERE action = 'person-add'") == audits
    r = http.post("/people", json={"name": "钱学明", "building_code": B[2], "unit": 1}, headers=admin)
    assert r.status_code == 201
    assert _count(repo, "people_persons") == persons + 1
    assert _count(repo, "audit_log", "WHERE action = 'person-add'") == audits + 1


def test_an_optional_note_may_be_left_out_or_sent(http):
    admin = http.tokens["admin"]
    assert http.post("/people/follow", headers=admin).status_code == 200
    empty = http.post("/people/follow", content=b"", headers={**admin, "Content-Type": "application/json"})
    assert empty.status_code == 200
    noted = http.post("/people/follow", json={"note": "复核"}, headers=admin)
    assert noted.status_code == 200
    bad = http.post("/people/follow", json={"note": 5, "x": 1}, headers=admin)
    assert bad.status_code == 422
    assert http.post("/people/follow", json={"note": "x"}, headers=http.tokens["worker-in"]).status_code == 403


def test_a_resident_channel_posts_a_wish_anywhere(http):
    """Posting a wish has no place in its rule: a reporter token (a resident's channel) names any building."""
    r = http.post("/wishes", json={"title": "帮忙取快递", "building_code": B[3]}, headers=http.tokens["reporter"])
    assert r.status_code == 201, r.text
    r = http.post("/wishes", json={"title": "帮忙取快递", "building_code": B[0]}, headers=http.tokens["worker-out"])
    assert r.status_code == 201, r.text
