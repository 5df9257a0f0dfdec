"""Hostile input over real HTTP: oversized bodies, huge geometries, SQL injection, path traversal, CORS."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.ops.conftest import make_token


@pytest.fixture(scope="module")
def client(sample_api):
    url, _ = sample_api
    with httpx.Client(base_url=url, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def admin(sample_api):
    _, repo = sample_api
    return {"Authorization": f"Bearer {make_token(repo.url, 'admin')}"}


def _is_problem(r: httpx.Response) -> bool:
    return r.headers.get("content-type", "").startswith("application/problem+json")


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(client, admin):
    body = b"{" + b" " * 6_000_000 + b"}"
    r = client.post("/collections/grids/items", content=body, headers={**admin, "Content-Type": "application/geo+json"})
    assert r.status_code == 413
    assert _is_problem(r)


def test_a_chunked_body_over_the_limit_is_refused_with_413(client, admin):
    def chunks():
        for _ in range(60):
            yield b" " * 100_000

    r = client.post(
        "/collections/grids/items", content=chunks(), headers={**admin, "Content-Type": "application/geo+json"}
    )
    assert r.status_code == 413


def test_a_geometry_with_a_million_vertices_is_refused_early(client, admin):
    import math

    n = 1_000_000
    ring = [
        [121.52 + 0.001 * math.cos(2 * math.pi * i / n), 31.23 + 0.001 * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    ring.append(ring[0])
    feature = {
        "type": "Feature",
        "properties": {"code": "310115004004099", "name": "巨型网格"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    r = client.post(
        "/collections/grids/items",
        content=json.dumps(feature),
        headers={**admin, "Content-Type": "application/geo+json"},
    )
    assert r.status_code == 413
    assert client.get("/collections/grids/items/310115004004099").status_code == 404


INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE features; --",
    '" OR 1=1 --',
    "%' UNION SELECT * FROM auth_tokens --",
    "Robert'); DROP TABLE tickets;--",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_every_filter_is_inert(client, payload):
    before = client.get("/collections/grids/items", params={"limit": 1}).json()["numberMatched"]
    probes = [
        ("/collections/grids/items", {"name": payload}),
        ("/collections/grids/items", {"community_code": payload}),
        ("/collections/grids/items", {"code": payload}),
        ("/collections/grids/items", {"bbox": payload}),
        ("/collections/grids/items", {"datetime": payload}),
        ("/collections/compounds/items", {"kind": payload}),
        ("/viewer/search", {"q": payload}),
        ("/tickets", {"grid": payload, "status": payload, "matter": payload}),
        ("/route", {"lon": payload, "lat": "31.23"}),
        ("/route", {"lon": "121.52", "lat": "31.23", "crs": payload}),
        ("/route", {"lon": "121.52", "lat": "31.23", "address": payload}),
        ("/open311/v2/requests.json", {"service_code": payload, "service_request_id": payload}),
    ]
    for path, params in probes:
        r = client.get(path, params=params)
        assert r.status_code < 500, (path, params, r.status_code, r.text[:300])
        if r.status_code == 200 and path == "/collections/grids/items" and "bbox" not in params:
            assert r.json()["numberReturned"] == 0, (path, params)
    r = client.get(f"/collections/grids/items/{payload}")
    assert r.status_code in (400, 404, 422)
    after = client.get("/collections/grids/items", params={"limit": 1}).json()["numberMatched"]
    assert after == before > 0


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static//etc/passwd",
    ],
)
def test_path_traversal_out_of_the_static_folder_is_refused(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404)
    assert "root:" not in r.text and "[project]" not in r.text


def test_cors_is_closed_by_default(client):
    r = client.options(
        "/collections/grids/items", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}
    r = client.get("/collections", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


# ---------------------------------------------------------------- the input layer (issue 13)
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def grid(client):
    feature = client.get("/collections/grids/items", params={"limit": 1}).json()["features"][0]
    return feature["properties"]["code"]


@pytest.mark.parametrize(
    ("method", "path", "ctype"),
    [
        ("POST", "/validate", "application/json"),
        ("POST", "/collections/grids/validate", "application/geo+json"),
        ("POST", "/collections/grids/items", "application/geo+json"),
        ("PUT", "/collections/grids/items/{grid}", "application/geo+json"),
        ("PATCH", "/collections/grids/items/{grid}", "application/merge-patch+json"),
        ("POST", "/operations/move-boundary", "application/json"),
        ("POST", "/operations/merge-grids", "application/json"),
        ("POST", "/route", "application/json"),
        ("POST", "/tickets", "application/json"),
        ("POST", "/communities/310115004001/alignment/proposal", "application/json"),
    ],
)
def test_a_100000_deep_json_body_is_a_400_naming_the_depth(client, admin, grid, method, path, ctype):
    before = client.get("/generations").json()
    r = client.request(method, path.format(grid=grid), content=DEEP, headers={**admin, "Content-Type": ctype})
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    assert _is_problem(r) and "nested" in r.json()["detail"]
    assert client.get("/generations").json() == before  # nothing changed


def test_the_one_body_parser_refuses_depth_before_parsing():
    from gridgis.api.bodies import json_depth, parse_json
    from gridgis.errors import MalformedInputError

    assert json_depth(b'{"name": "[[[[{{{{", "a": [[1]]}') == 3
    assert parse_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(MalformedInputError, match="nested 100000 levels"):
        parse_json(DEEP)


def test_no_router_parses_a_body_by_hand():
    """Every hand-parsed body goes through gridgis.api.bodies (size, depth, syntax in one place)."""
    import re
    from pathlib import Path

    import gridgis.api

    root = Path(gridgis.api.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name in ("bodies.py", "middleware.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"await request\.body\(\)",
            r"await request\.json\(\)",
            r"request\.stream\(\)",
            r"json\.loads\(raw",
        ):
            if re.search(pattern, text):
                offenders.append(f"{path.name}: {pattern}")
    assert offenders == []


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/collections/grids/items", {"name": "a\x00b"}, "name"),
        ("/tickets", {"grid": "a\x00b"}, "grid"),
        ("/viewer/search", {"q": "\x00"}, "q"),
        ("/open311/v2/requests.json", {"service_code": "a\x00"}, "service_code"),
        ("/viewer/related/grids/%00", None, "path"),
        ("/editing/communities/%00.gpkg", None, "path"),
        ("/collections/grids/items/a%00b", None, "path"),
    ],
)
def test_a_nul_byte_in_a_query_value_or_path_segment_is_a_400_naming_it(client, admin, path, params, parameter):
    r = client.get(path, params=params, headers=admin)
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    assert _is_problem(r)
    assert parameter in r.json()["parameter"]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/tickets/11767895621491297676689408", None, "ticket_id"),
        ("/tickets/-11767895621491297676689408", None, "ticket_id"),
        ("/generations/18446744073709551615/diff/1", None, "gen_a"),
        ("/generations/1/diff/9223372036854775808", None, "gen_b"),
        ("/collections/grids/items", {"generation": "27568802321156116480"}, "generation"),
        ("/collections/grids/items/{grid}/history", None, None),
        ("/audit", {"limit": "-1"}, "limit"),
        ("/audit", {"limit": "0"}, "limit"),
        ("/audit", {"limit": "99999999999999999999999"}, "limit"),
        ("/collections/grids/items", {"limit": "abc"}, "limit"),
        ("/collections/grids/items", {"limit": "-5"}, "limit"),
        ("/collections/grids/items", {"offset": "18446744073709551616"}, "offset"),
    ],
)
def test_integers_outside_the_storage_range_and_bad_limits_are_a_400_naming_the_parameter(
    client, admin, grid, path, params, parameter
):
    r = client.get(path.format(grid=grid), params=params, headers=admin)
    if parameter is None:  # a control: an ordinary request still works
        assert r.status_code == 200, r.text[:300]
        return
    assert r.status_code == 400, (path, params, r.status_code, r.text[:300])
    assert _is_problem(r)
    body = r.json()
    assert body.get("parameter") == parameter, body
    assert parameter in body["detail"]


def test_a_generation_at_the_edge_of_the_range_is_an_ordinary_404(client):
    r = client.get("/generations/9223372036854775807/diff/1")
    assert r.status_code == 404 and _is_problem(r)


@pytest.mark.parametrize(
    "path", ["/route", "/tickets", "/collections/grids/items", "/validate", "/operations/move-boundary"]
)
def test_every_chunked_body_over_the_limit_is_a_413(client, admin, path):
    def chunks():
        yield b'{"points": ['
        for _ in range(60):
            yield b"[121.5, 31.2]," * 7_000

    r = client.post(path, content=chunks(), headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 413, (path, r.status_code, r.text[:200])
    assert _is_problem(r)


def test_a_request_id_is_echoed_or_made(client):
    r = client.get("/health", headers={"X-Request-ID": "abc-123.x"})
    assert r.headers["x-request-id"] == "abc-123.x"
    made = client.get("/health", headers={"X-Request-ID": 'bad id {"x": 1}'}).headers["x-request-id"]
    assert made and " " not in made and made != 'bad id {"x": 1}'
    assert client.get("/health").headers["x-request-id"] != client.get("/health").headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/validate", b'{"layer": "grids", "features": [' + b"1" * 5000 + b"]}"),
        ("POST", "/operations/move-boundary", b'{"grids": [' + b"9" * 5000 + b"]}"),
        ("PATCH", "/collections/grids/items/{grid}", b'{"properties": {"version": 99999999999999999999999999}}'),
        ("PUT", "/collections/grids/items/{grid}", b'{"type": "Feature", "version": 1' + b"0" * 40 + b"}"),
    ],
)
def test_numbers_beyond_any_range_in_a_body_are_refused_not_a_500(client, admin, grid, method, path, body):
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
    r = client.request(method, path.format(grid=grid), content=body, headers={**admin, "Content-Type": ctype})
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    assert _is_problem(r)
