"""The tickets API over real HTTP (uvicorn on a free port) with real routing over a stored city."""

from __future__ import annotations

import httpx
import pytest

from gridgis.api import create_app
from gridgis.sample.lattice import synthetic_city
from gridgis.settings import get_settings
from gridgis.storage import Repository
from tests.support.tickets import admin_headers, live_server


@pytest.fixture(scope="module")
def city():
    return synthetic_city(2, 2, micro=2, per_community=2)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, city):
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(city, author="test", message="synthetic city")
    app = create_app(get_settings(database_url=url), repo)
    with live_server(app) as base:
        yield base, admin_headers(repo)
    repo.dispose()


@pytest.fixture
def http(base_url):
    base, headers = base_url
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        yield client


def inside(city, i=0):
    p = city["micro_grids"].geometry.iloc[i].representative_point()
    return {"lon": p.x, "lat": p.y, "code": city["micro_grids"]["code"].iloc[i]}


def test_matters_lists_the_catalogue(http):
    body = http.get("/matters").json()
    assert len(body["items"]) == 28 and len(body["domains"]) == 6
    m10 = next(i for i in body["items"] if i["code"] == "M10")
    assert m10["department"] == "城管执法中队" and m10["tier"] == "hard" and m10["deadlines"]["respond"] == "20min"


def test_post_ticket_routes_it_and_returns_201_with_location(http, city):
    p = inside(city, 0)
    r = http.post(
        "/tickets",
        json={
            "lon": p["lon"],
            "lat": p["lat"],
            "matter_code": "M27",
            "description": "垃圾桶满溢",
            "channel": "12345",
            "received_at": "2026-09-30T10:00:00+08:00",
        },
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert r.headers["location"] == f"/tickets/{t['id']}"
    assert t["micro_grid_code"] == p["code"] and t["grid_code"] == p["code"][:15]
    assert t["status"] == "received" and t["status_label"] == "事件收集" and t["level"] == "micro_grid"
    assert t["solve_due"] == "2026-10-08T10:00:00+08:00" and t["respond_due"] == "2026-09-30T10:20:00+08:00"
    assert t["assignee"]  # the micro-grid worker of the synthetic city
    got = http.get(f"/tickets/{t['id']}").json()
    assert got["events"][0]["action"] == "create" and got["id"] == t["id"]


def test_a_second_report_nearby_is_offered_as_duplicate(http, city):
    p = inside(city, 1)
    first = http.post("/tickets", json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M11"}).json()
    second = http.post("/tickets", json={"lon": p["lon"] + 0.0001, "lat": p["lat"], "matter_code": "M11"}).json()
    assert [d["id"] for d in second["duplicates"]] == [first["id"]]
    assert 5 < second["duplicates"][0]["distance_m"] < 15


def test_transitions_walk_the_loop_and_refuse_invalid_moves(http, city):
    p = inside(city, 2)
    t = http.post("/tickets", json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M14"}).json()
    url = f"/tickets/{t['id']}/transitions"
    bad = http.post(url, json={"action": "close", "actor": "张三"})
    assert bad.status_code == 409 and bad.headers["content-type"].startswith("application/problem+json")
    assert f"ticket {t['id']}" in bad.json()["detail"] and "received" in bad.json()["detail"]
    for step in (
        {"action": "triage"},
        {"action": "dispatch", "department": "派出所"},
        {"action": "accept"},
        {"action": "resolve", "note": "已劝导"},
        {"action": "rate", "rating": 4},
        {"action": "close"},
    ):
        r = http.post(url, json={"actor": "张三", **step})
        assert r.status_code == 200, r.text
    final = http.get(f"/tickets/{t['id']}").json()
    assert final["status"] == "closed" and final["rating"] == 4 and len(final["events"]) == 7
    # the actor is the token's holder; the name in the body is only kept as who it was done for
    assert final["events"][4]["note"] == "已劝导" and final["events"][4]["actor"] == "tests-admin"
    assert final["events"][4]["data"]["on_behalf_of"] == "张三"


def test_stale_if_match_is_refused_with_412(http, city):
    p = inside(city, 3)
    t = http.post("/tickets", json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M14"}).json()
    r = http.post(
        f"/tickets/{t['id']}/transitions", json={"action": "triage", "actor": "x"}, headers={"If-Match": '"7"'}
    )
    assert r.status_code == 412


@pytest.mark.parametrize(
    "payload, status, needle",
    [
        ({"lon": 121.5005, "lat": 31.2204, "matter_code": "M99"}, 422, "M99"),
        ({"lon": 121.60, "lat": 31.30, "matter_code": "M11"}, 422, "outside the service area"),
        ({"lon": 121.5005, "lat": 131.2204, "matter_code": "M11"}, 422, "out of range"),
        ({"lon": 121.5005, "lat": 31.2204, "matter_code": "M11", "crs": "EPSG:99999"}, 400, "EPSG:99999"),
        ({"lon": "abc", "lat": 31.2204, "matter_code": "M11"}, 422, "lon"),
        ({"lat": 31.2204, "matter_code": "M11"}, 422, "needs lon and lat"),
        ({"matter_code": "M11", "address": "不存在的地方"}, 404, "不存在的地方"),
        (
            {"lon": 121.5005, "lat": 31.2204, "matter_code": "M11", "received_at": "2026-10-01T10:00:00"},
            422,
            "time zone",
        ),
    ],
)
def test_bad_reports_are_refused_as_problem_json_and_leave_no_trace(http, payload, status, needle):
    before = http.get("/tickets", params={"limit": 1000}).json()["count"]
    r = http.post("/tickets", json=payload)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert needle in r.text
    assert http.get("/tickets", params={"limit": 1000}).json()["count"] == before


def test_gcj02_input_is_converted_before_routing(http, city):
    from gridgis.crs import storage_to

    p = inside(city, 4)
    gx, gy = storage_to([p["lon"]], [p["lat"]], "gcj02")
    t = http.post(
        "/tickets", json={"lon": float(gx[0]), "lat": float(gy[0]), "crs": "gcj02", "matter_code": "M27"}
    ).json()
    assert t["micro_grid_code"] == p["code"]
    assert abs(t["point"]["lon"] - p["lon"]) < 1e-5


def test_list_filters_and_stats_by_month(http, city):
    p = inside(city, 5)
    t = http.post(
        "/tickets",
        json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M27", "received_at": "2026-07-15T09:00:00+08:00"},
    ).json()
    listed = http.get("/tickets", params={"grid": t["grid_code"], "status": "received"}).json()
    assert t["id"] in [x["id"] for x in listed["tickets"]]
    assert all(x["grid_code"] == t["grid_code"] for x in listed["tickets"])
    stats = http.get("/tickets/stats", params={"month": "2026-07"}).json()
    assert stats["rows"] == [{**stats["rows"][0], "grid_code": t["grid_code"], "volume": 1, "month": "2026-07"}]
    assert http.get("/tickets/stats", params={"month": "July"}).status_code == 400  # bad parameter
    assert http.get("/tickets", params={"status": "finished"}).status_code == 422


def test_unknown_ticket_is_404(http):
    r = http.get("/tickets/987654")
    assert r.status_code == 404 and "987654" in r.json()["detail"]


def test_escalation_endpoint_is_idempotent(http, city):
    p = inside(city, 6)
    old = http.post(
        "/tickets",
        json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M27", "received_at": "2026-01-05T09:00:00+08:00"},
    ).json()
    first = http.post("/tickets/escalations").json()
    assert old["id"] in [x["id"] for x in first["tickets"]]
    again = http.post("/tickets/escalations").json()
    assert old["id"] not in [x["id"] for x in again["tickets"]]
    got = http.get(f"/tickets/{old['id']}").json()
    assert got["level"] == "grid" and got["overdue"] and got["escalations"] == 1


def test_stats_as_geojson_gives_every_grid_with_the_months_figures(http, city):
    p = inside(city, 7)
    t = http.post(
        "/tickets",
        json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M27", "received_at": "2026-06-15T09:00:00+08:00"},
    ).json()
    r = http.get("/tickets/stats", params={"month": "2026-06", "format": "geojson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    feats = {f["properties"]["code"]: f["properties"] for f in r.json()["features"]}
    assert set(feats) == set(city["grids"]["code"])
    assert feats[t["grid_code"]]["volume"] == 1 and feats[t["grid_code"]]["month"] == "2026-06"
    others = [v for k, v in feats.items() if k != t["grid_code"]]
    assert all(v["volume"] == 0 and v["on_time_rate"] is None for v in others)
    assert http.get("/tickets/stats", params={"format": "geojson"}).status_code == 422


def test_the_service_escalates_overdue_tickets_by_itself_when_configured(tmp_path, city):
    import time

    from gridgis.settings import Settings

    url = f"sqlite:///{tmp_path / 'esc.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(city, author="test", message="synthetic city")
    # given explicitly: tests/conftest.py turns the escalator off through the environment
    app = create_app(Settings(database_url=url, ticket_escalation_interval_s=0.05), repo)
    p = inside(city, 0)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30, headers=admin_headers(repo)) as client:
        t = client.post(
            "/tickets",
            json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M27", "received_at": "2026-01-05T09:00:00+08:00"},
        ).json()
        deadline = time.monotonic() + 60
        while client.get(f"/tickets/{t['id']}").json()["escalations"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        got = client.get(f"/tickets/{t['id']}").json()
    assert got["escalations"] == 1 and got["level"] == "grid"
    assert got["events"][-1]["action"] == "escalate" and got["events"][-1]["data"]["reason"] == "overdue"
    repo.dispose()


def test_automatic_escalation_is_on_by_default_and_documented(tmp_path, monkeypatch):
    """Seen: automatic escalation of overdue tickets was off unless configured, and undocumented."""
    from pathlib import Path

    from fastapi.testclient import TestClient

    from gridgis.settings import Settings

    monkeypatch.delenv("GRIDGIS_TICKET_ESCALATION_INTERVAL_S", raising=False)  # tests/conftest.py sets 0
    default = Settings.model_fields["ticket_escalation_interval_s"].default
    assert default > 0 and Settings().ticket_escalation_interval_s == default
    url = f"sqlite:///{tmp_path / 'default.db'}"
    repo = Repository(url)
    repo.create_schema()
    with TestClient(create_app(get_settings(database_url=url), repo)) as client:
        escalator = client.app.state.ticket_escalator  # type: ignore[attr-defined]
        assert escalator is not None
    repo.dispose()
    operations = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    assert f"| `GRIDGIS_TICKET_ESCALATION_INTERVAL_S` | `{default:g}` |" in operations


def _audit_count(http) -> int:
    return http.get("/audit", params={"limit": 1000}).json()["count"]


def test_a_report_resent_with_its_external_id_answers_the_stored_ticket(http, city):
    """A hotline retrying after a timeout gets its ticket back (200, Idempotent-Replayed), not a second one."""
    p = inside(city, 7)
    report = {
        "lon": p["lon"],
        "lat": p["lat"],
        "matter_code": "M27",
        "description": "垃圾桶满溢",
        "channel": "12345",
        "external_id": "12345-API-0001",
    }
    first = http.post("/tickets", json=report)
    assert first.status_code == 201 and first.json()["replayed"] is False
    assert "idempotent-replayed" not in first.headers
    audits = _audit_count(http)
    again = http.post("/tickets", json={**report, "received_at": "2026-12-01T09:00:00+08:00"})
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"] and again.headers["etag"] == first.headers["etag"]
    body = again.json()
    assert body["id"] == first.json()["id"] and body["replayed"] is True
    assert body["received_at"] == first.json()["received_at"]  # the stored ticket, not the retry
    listed = http.get("/tickets", params={"limit": 1000}).json()["tickets"]
    assert [t["id"] for t in listed if t["external_id"] == "12345-API-0001"] == [body["id"]]
    assert _audit_count(http) == audits  # nothing written


def test_the_same_external_id_with_other_content_is_a_409_naming_the_stored_ticket(http, city):
    p = inside(city, 7)
    report = {"lon": p["lon"], "lat": p["lat"], "matter_code": "M27", "external_id": "12345-API-0002"}
    first = http.post("/tickets", json=report).json()
    before = (http.get("/tickets", params={"limit": 1000}).json()["count"], _audit_count(http))
    r = http.post("/tickets", json={**report, "matter_code": "M11", "description": "占道经营"})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["external_id"] == "12345-API-0002" and problem["ticket_id"] == first["id"]
    assert problem["fields"] == ["matter_code", "description"]
    assert f"ticket {first['id']}" in problem["detail"]
    assert (http.get("/tickets", params={"limit": 1000}).json()["count"], _audit_count(http)) == before


def test_the_openapi_document_describes_the_replay_and_the_conflict(http):
    post = http.get("/openapi.json").json()["paths"]["/tickets"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(post)
    assert post["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TicketOut")
    assert "Idempotent-Replayed" in post["200"]["headers"]
    conflict = post["409"]["content"]["application/problem+json"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = http.get("/openapi.json").json()["components"]["schemas"][conflict]["properties"]
    assert {"external_id", "ticket_id", "fields"} <= set(props)
