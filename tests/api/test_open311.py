"""Open311 GeoReport v2 over real HTTP: JSON valid against the official schemas, XML shaped like
the canonical fixtures, errors in Open311's format; and the real captured payloads parse."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import httpx
import pytest
import shapely

from gridgis.api import create_app
from gridgis.sample.lattice import synthetic_city
from gridgis.settings import get_settings
from gridgis.storage import Repository
from gridgis.tickets import open311 as o311
from gridgis.tickets.catalogue import default_catalogue
from tests.support.tickets import admin_headers, live_server

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def georeport(shared_data):
    return shared_data / "open311-georeport-v2"


@pytest.fixture(scope="module")
def validate(georeport):
    """validate(instance, "requests.json") against the official GeoReport v2 schemas ($ref resolved)."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    folder = georeport / "schema"
    schemas = {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json") if p.name != "swagger.json"
    }
    registry = Registry().with_resources(
        (name, Resource.from_contents(s, default_specification=DRAFT7)) for name, s in schemas.items()
    )

    def check(instance, name):
        validator = jsonschema.Draft7Validator(
            schemas[name], registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(instance), key=str)
        assert not errors, [e.message for e in errors[:5]]

    return check


@pytest.fixture(scope="module")
def city():
    return synthetic_city(2, 2, micro=2, per_community=2)


@pytest.fixture(scope="module")
def server(tmp_path_factory, city):
    url = f"sqlite:///{tmp_path_factory.mktemp('o311') / 'o311.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(city, author="test", message="synthetic city")
    app = create_app(get_settings(database_url=url), repo)
    with live_server(app) as base:
        yield app, base, admin_headers(repo)
    repo.dispose()


@pytest.fixture
def http(server):
    app, base, headers = server
    app.state.open311_api_keys = None
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        yield client


def point(city, i=0):
    p = city["micro_grids"].geometry.iloc[i].representative_point()
    return p.x, p.y


def post(http, city, fmt="json", i=0, **extra):
    lon, lat = point(city, i)
    form = {
        "service_code": "M27",
        "lat": f"{lat}",
        "long": f"{lon}",
        "description": "垃圾没有清运",
        "address_string": "梅园三街坊",
        "email": "resident@example.cn",
        "device_id": "dev-1",
        "attribute[building]": "12号楼",
        "media_url": "https://example.cn/p/1.jpg",
        **extra,
    }
    return http.post(f"/open311/v2/requests.{fmt}", data=form)


def tags(element):
    return [c.tag for c in element]


def test_discovery_points_at_v2(http):
    d = http.get("/open311/discovery.json").json()
    ep = d["endpoints"][0]
    assert ep["url"].endswith("/open311/v2/") and ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(ep["formats"]) == {"text/xml", "application/json"}


def test_the_schema_check_rejects_a_bad_request(validate):
    with pytest.raises(AssertionError, match="pending"):
        validate(
            [
                {
                    "service_request_id": "1",
                    "status": "pending",
                    "service_code": "M01",
                    "requested_datetime": "2026-10-01T00:00:00+08:00",
                }
            ],
            "requests.json",
        )


def test_services_json_is_valid_and_maps_the_catalogue(http, validate):
    services = http.get("/open311/v2/services.json").json()
    validate(services, "services.json")
    assert [s["service_code"] for s in services] == [f"M{n:02d}" for n in range(1, 29)] + ["WISH"]
    m10 = next(s for s in services if s["service_code"] == "M10")
    assert m10["service_name"] == "违法建设" and m10["group"] == "综合执法" and m10["type"] == "realtime"


def test_services_xml_has_the_fixture_shape(http, georeport):
    ours = ET.fromstring(http.get("/open311/v2/services.xml").content)
    fixture = ET.parse(georeport / "fixtures-xml" / "services.xml").getroot()
    assert ours.tag == fixture.tag == "services"
    assert set(tags(ours[0])) == set(tags(fixture[0]))
    assert len(ours) == 29 and ours[0].find("metadata").text == "true"  # 28 matters and the wish service


def test_service_definition_json_and_xml(http, validate, georeport):
    d = http.get("/open311/v2/services/M27.json").json()
    validate(d, "service-definition.json")
    ours = ET.fromstring(http.get("/open311/v2/services/M27.xml").content)
    fixture = ET.parse(georeport / "fixtures-xml" / "service_definition.xml").getroot()
    assert ours.tag == fixture.tag and tags(ours)[0] == "service_code"
    list_attr = next(a for a in ours.findall("attribute") if a.find("values") is not None)
    assert set(tags(list_attr)) == set(tags(fixture.find("attribute")))
    assert tags(list_attr.find("values/value")) == ["key", "name"]


def test_unknown_service_is_404_in_open311_format(http, georeport):
    r = http.get("/open311/v2/services/X1.json")
    assert r.status_code == 404 and r.json() == [{"code": 404, "description": "service_code X1 not found"}]
    x = ET.fromstring(http.get("/open311/v2/services/X1.xml").content)
    fixture = ET.parse(georeport / "fixtures-xml" / "get_service_request_not_found.xml").getroot()
    assert x.tag == fixture.tag == "errors" and tags(x[0]) == tags(fixture[0]) == ["code", "description"]


def test_post_creates_a_ticket_and_get_returns_a_valid_request(http, city, validate):
    r = post(http, city)
    assert r.status_code == 200, r.text
    [created] = r.json()
    assert (
        set(created) == {"service_request_id", "service_notice", "account_id"} and "环卫所" in created["service_notice"]
    )
    rid = created["service_request_id"]
    got = http.get(f"/open311/v2/requests/{rid}.json").json()
    validate(got, "requests.json")
    [req] = got
    assert (req["status"], req["service_code"], req["agency_responsible"]) == ("open", "M27", "环卫所")
    assert req["address"] == "梅园三街坊 12号楼" and req["media_url"] == "https://example.cn/p/1.jpg"
    assert req["expected_datetime"] and req["status_notes"] == "事件收集"
    ticket = http.get(f"/tickets/{rid}").json()
    assert ticket["channel"] == "open311" and ticket["micro_grid_code"] == city["micro_grids"]["code"].iloc[0]


def test_post_xml_answers_in_the_fixture_shape(http, city, georeport):
    r = post(http, city, fmt="xml", i=1)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    ours = ET.fromstring(r.content)
    fixture = ET.parse(georeport / "fixtures-xml" / "post_service_request.xml").getroot()
    assert ours.tag == fixture.tag and set(tags(ours[0])) == set(tags(fixture[0]))


def test_requests_xml_matches_the_fixture_fields_and_round_trips(http, city, georeport):
    rid = post(http, city, i=2).json()[0]["service_request_id"]
    body = http.get(f"/open311/v2/requests/{rid}.xml").content
    ours = ET.fromstring(body)
    fixture = ET.parse(georeport / "fixtures-xml" / "get_service_request.xml").getroot()
    assert tags(ours[0]) == tags(fixture[0])
    [parsed] = o311.parse_requests_xml(body)
    assert parsed["service_request_id"] == rid and isinstance(parsed["lat"], float)


def test_list_filters_by_status_code_and_dates(http, city, validate):
    rid = post(http, city, i=3, service_code="M11").json()[0]["service_request_id"]
    master = int(post(http, city, i=3, service_code="M11").json()[0]["service_request_id"])
    http.post(f"/tickets/{rid}/transitions", json={"action": "merge", "actor": "x", "master_id": master})
    closed = http.get("/open311/v2/requests.json", params={"status": "closed", "service_code": "M11"}).json()
    validate(closed, "requests.json")
    assert [r["service_request_id"] for r in closed] == [rid] and closed[0]["status_notes"].startswith("重复工单")
    assert rid not in [
        r["service_request_id"] for r in http.get("/open311/v2/requests.json", params={"status": "open"}).json()
    ]
    none = http.get(
        "/open311/v2/requests.json", params={"start_date": "2001-01-01T00:00:00Z", "end_date": "2001-02-01T00:00:00Z"}
    )
    assert none.json() == []
    empty = ET.fromstring(
        http.get(
            "/open311/v2/requests.xml",
            params={"start_date": "2001-01-01T00:00:00Z", "end_date": "2001-02-01T00:00:00Z"},
        ).content
    )
    assert empty.tag == "service_requests" and len(empty) == 0
    by_id = http.get("/open311/v2/requests.json", params={"service_request_id": rid}).json()
    assert [r["service_request_id"] for r in by_id] == [rid]


@pytest.mark.parametrize(
    "form, needle",
    [
        ({"service_code": "M99"}, "service_code 'M99' not found"),
        ({"service_code": ""}, "service_code is required"),
        ({"lat": "abc"}, "lat is not a number"),
        ({"lat": "nan"}, "lat is not a finite number"),
        ({"lat": "95"}, "lat 95.0 is out of range"),
        ({"lat": "", "long": "", "address_string": ""}, "lat and long (WGS84), or address_string"),
        ({"lat": "", "long": "", "address_string": "不存在的地方"}, "不存在的地方"),
        ({"media_url": "file:///etc/passwd"}, "media_url must be an http(s) URL"),
        # seen: attribute[channel]=nonsense was stored; values are checked against the service definition
        ({"attribute[channel]": "nonsense"}, "attribute[channel] 'nonsense' is not one of"),
        ({"attribute[colour]": "red"}, "attribute[colour] is not an attribute of service M27"),
    ],
)
def test_malformed_posts_get_open311_errors_and_leave_no_trace(http, city, form, needle):
    before = len(http.get("/tickets", params={"limit": 1000}).json()["tickets"])
    r = post(http, city, **form)
    assert r.status_code == 400
    assert any(needle in e["description"] for e in r.json()), r.json()
    assert all(set(e) == {"code", "description"} and e["code"] == 400 for e in r.json())
    assert len(http.get("/tickets", params={"limit": 1000}).json()["tickets"]) == before


def test_an_address_alone_is_located_at_its_building(http, city):
    r = http.post("/open311/v2/requests.json", data={"service_code": "M27", "address_string": "梅园一村2号楼"})
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    ticket = http.get(f"/tickets/{rid}").json()
    building = city["buildings"].set_index("name").loc["梅园一村2号楼"].geometry
    assert building.buffer(1e-6).contains(shapely.Point(ticket["point"]["lon"], ticket["point"]["lat"]))
    assert ticket["address"] == "梅园一村2号楼"


def test_point_outside_the_service_area_is_an_open311_400(http):
    r = http.post("/open311/v2/requests.json", data={"service_code": "M27", "lat": "31.30", "long": "121.60"})
    assert r.status_code == 400 and "outside the service area" in r.json()[0]["description"]


def test_api_key_is_required_once_keys_are_configured(server, http, city):
    app, _, _ = server
    app.state.open311_api_keys = ["k-123"]
    refused = post(http, city, fmt="xml")
    assert refused.status_code == 403
    assert "Invalid api_key" in ET.fromstring(refused.content).find("error/description").text
    assert post(http, city, api_key="k-123").status_code == 200


def test_unknown_format_and_missing_request(http):
    assert http.get("/open311/v2/services.csv").status_code == 400
    r = http.get("/open311/v2/requests/not-an-id.json")
    assert r.status_code == 404 and r.json()[0]["description"] == "Service request not found with id or token not-an-id"


def test_an_id_beyond_the_stored_integers_is_an_open311_404_not_a_500(http):
    for huge in ("118446744073709551615123456", "9223372036854775808", "²", "٣"):
        r = http.get(f"/open311/v2/requests/{huge}.json")
        assert r.status_code == 404, (huge, r.status_code, r.text)
        assert r.json()[0]["code"] == 404 and "Service request not found" in r.json()[0]["description"], huge
        listed = http.get("/open311/v2/requests.json", params={"service_request_id": huge})
        assert listed.status_code == 400 and "service_request_id" in listed.json()[0]["description"], huge
    assert http.get("/open311/v2/requests/9223372036854775807.json").status_code == 404  # the largest id: absent


def test_real_captured_payloads_parse(georeport, validate):
    real = georeport / "fixtures-real-open311status"
    many = o311.parse_requests_xml((real / "requests_many.xml").read_bytes())
    single = o311.parse_requests_xml((real / "requests_single.xml").read_bytes())
    assert len(many) >= 2 and single[0]["service_request_id"] == many[0]["service_request_id"]
    assert many[0]["status"] == "open" and many[0]["description"] is None and isinstance(many[0]["long"], float)
    chicago = json.loads((real / "service_requests.json").read_text(encoding="utf-8"))
    validate(chicago, "requests.json")
    giessen = o311.parse_services_xml((real / "services_giessen.xml").read_bytes())
    assert giessen and all(s["metadata"] is False for s in giessen)
    validate(json.loads((real / "service_list.json").read_text(encoding="utf-8")), "services.json")


def test_mapping_round_trips_our_own_xml():
    cat = default_catalogue()
    services = o311.parse_services_xml(o311.services_xml(o311.services(cat)))
    assert [s["service_code"] for s in services] == [i.code for i in cat.items] + [o311.WISH_SERVICE_CODE]
    assert services[0]["metadata"] is True


def test_multipart_long_descriptions_and_bad_filters_are_open311_400s(http, city):
    _lon, _lat = point(city, 0)
    multi = http.post("/open311/v2/requests.json", files={"service_code": (None, "M27")})
    assert multi.status_code == 400 and "x-www-form-urlencoded" in multi.json()[0]["description"]
    long = post(http, city, description="很" * 4001)
    assert long.status_code == 400 and "longer than 4000" in long.json()[0]["description"]
    bad_status = http.get("/open311/v2/requests.xml", params={"status": "pending"})
    assert bad_status.status_code == 400
    assert "pending" in ET.fromstring(bad_status.content).find("error/description").text
    bad_date = http.get("/open311/v2/requests.json", params={"start_date": "yesterday"})
    assert bad_date.status_code == 400 and "W3C" in bad_date.json()[0]["description"]


def test_discovery_is_served_as_xml_too(http):
    import xml.etree.ElementTree as ET

    r = http.get("/open311/discovery.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "discovery" and root.find("endpoints/endpoint/url").text.endswith("/open311/v2/")
    assert {f.text for f in root.findall("endpoints/endpoint/formats/format")} == {"text/xml", "application/json"}


def test_a_date_range_over_90_days_is_an_open311_400(http):
    r = http.get(
        "/open311/v2/requests.json",
        params={"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"},
    )
    assert r.status_code == 400 and "at most 90" in r.json()[0]["description"]
    backwards = http.get(
        "/open311/v2/requests.json",
        params={"start_date": "2026-06-01T00:00:00+08:00", "end_date": "2026-01-01T00:00:00+08:00"},
    )
    assert backwards.status_code == 400 and "before start_date" in backwards.json()[0]["description"]


def test_a_wish_posted_through_open311_is_a_wish_for_the_compounds_organisation(server, http, city, validate):
    """Service WISH (微心愿): the post creates a wish (not a ticket) addressed to the compound's party
    organisation, readable as ``W-<n>`` through Open311, audited as ``anonymous`` with its channel."""
    import sqlalchemy as sa

    from gridgis.people.store import PeopleStore
    from gridgis.people.wishes import get_wish

    app, base, _ = server
    people = PeopleStore(app.state.repository)
    people.sync_orgs()
    wish = next(s for s in http.get("/open311/v2/services.json").json() if s["service_code"] == "WISH")
    assert wish["service_name"] == "微心愿" and wish["group"] == "人员与组织"
    definition = http.get("/open311/v2/services/WISH.json").json()
    validate(definition, "service-definition.json")
    assert {a["code"] for a in definition["attributes"]} == {"title", "building", "unit", "channel"}
    building = str(city["buildings"]["code"].iloc[0])
    with app.state.repository.engine.connect() as conn:
        tickets = conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one()
    form = {
        "service_code": "WISH",
        "description": "帮忙更换楼道灯泡，老人够不着",
        "attribute[building]": building,
        "attribute[unit]": "1",
        "attribute[channel]": "wechat",
        "first_name": "孙",
        "phone": "13800001111",
    }
    r = httpx.post(f"{base}/open311/v2/requests.json", data=form)  # anonymous, as a public form posts
    assert r.status_code == 200, r.text
    [created] = r.json()
    rid = created["service_request_id"]
    assert rid.startswith("W-") and "微心愿已派至" in created["service_notice"]
    stored = get_wish(people, int(rid[2:]))
    assert stored["building_code"] == building and stored["channel"] == "wechat" and stored["posted_by"] == "anonymous"
    org = people.org(stored["org_code"])
    assert org["kind"] != "community_committee" and stored["compound_code"] in (org["compounds"] or [])
    with app.state.repository.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one() == tickets  # not a ticket
    got = http.get(f"/open311/v2/requests/{rid}.json").json()
    validate(got, "requests.json")
    [req] = got
    assert (req["status"], req["status_notes"], req["service_code"]) == ("open", "居民点单", "WISH")
    assert req["agency_responsible"] == org["name"] and "孙" not in json.dumps(got, ensure_ascii=False)
    xml = ET.fromstring(http.get(f"/open311/v2/requests/{rid}.xml").content)
    assert xml.find("request/service_request_id").text == rid
    listed = http.get("/open311/v2/requests.json", params={"service_code": "WISH"}).json()
    assert [q["service_request_id"] for q in listed] == [rid]
    assert all(q["service_code"] != "WISH" for q in http.get("/open311/v2/requests.json").json())
    # the wish moves on in the people area; Open311 reads its state
    admin = {"Authorization": http.headers["Authorization"]}
    for step in ({"action": "dispatch"}, {"action": "cancel", "note": "已线下解决"}):
        assert http.post(f"/wishes/{rid[2:]}/transitions", json=step, headers=admin).status_code == 200
    [req] = http.get(f"/open311/v2/requests/{rid}.json").json()
    assert (req["status"], req["status_notes"]) == ("closed", "已撤销")
    entry = next(e for e in http.get("/audit", params={"action": "wish-post"}).json()["entries"] if rid in e["codes"])
    assert entry["principal"] == "anonymous" and "channel wechat" in entry["message"]
    assert http.get("/open311/v2/requests/W-999999.json").status_code == 404
    bad = httpx.post(f"{base}/open311/v2/requests.json", data={"service_code": "WISH", "description": "x"})
    assert bad.status_code == 400 and "attribute[building]" in bad.json()[0]["description"]


def test_the_service_definition_offers_an_external_id(http):
    attrs = {a["code"]: a for a in http.get("/open311/v2/services/M27.json").json()["attributes"]}
    assert attrs["external_id"]["datatype"] == "string" and attrs["external_id"]["required"] is False


def test_a_post_resent_with_its_external_id_answers_the_same_request(http, city, validate):
    first = post(http, city, i=5, **{"attribute[external_id]": "O311-0001"})
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = post(http, city, i=5, **{"attribute[external_id]": "O311-0001"})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    rid = first.json()[0]["service_request_id"]
    ticket = http.get(f"/tickets/{rid}").json()
    assert ticket["external_id"] == "O311-0001"
    listed = http.get("/tickets", params={"limit": 1000}).json()["tickets"]
    assert [t["id"] for t in listed if t["external_id"] == "O311-0001"] == [int(rid)]
    got = http.get(f"/open311/v2/requests/{rid}.json").json()
    validate(got, "requests.json")


def test_a_post_with_a_known_external_id_and_other_content_is_an_open311_409(http, city):
    rid = post(http, city, i=6, **{"attribute[external_id]": "O311-0002"}).json()[0]["service_request_id"]
    before = len(http.get("/tickets", params={"limit": 1000}).json()["tickets"])
    r = post(http, city, i=6, description="另一件事", **{"attribute[external_id]": "O311-0002"})
    assert r.status_code == 409
    [error] = r.json()
    assert error["code"] == 409 and "O311-0002" in error["description"] and f"ticket {rid}" in error["description"]
    assert len(http.get("/tickets", params={"limit": 1000}).json()["tickets"]) == before


def test_the_openapi_document_describes_the_open311_replay_and_conflict(http):
    post = http.get("/openapi.json").json()["paths"]["/open311/v2/requests.{fmt}"]["post"]["responses"]
    assert "Idempotent-Replayed" in post["200"]["headers"] and "409" in post
