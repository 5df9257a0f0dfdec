"""Security over real HTTP: every write endpoint needs a token (401) with the right role and scope (403)."""

from __future__ import annotations

import httpx
import pytest

from tests.ops.conftest import make_token

#: POST endpoints that store nothing (they compute an answer), so they are open like reads
READ_ONLY_POSTS = {
    "/route",  # batch routing
    "/collections/{layer}/validate",  # checks without storing
    "/communities/{code}/alignment/proposal",  # a proposal is computed, not applied
    "/validate",  # checks without storing
    "/viewer/impact",  # the viewer's what-if of a dry run
    "/viewer/proposal/{community}",  # composes a proposal, stores nothing
}
#: dry runs by default; their committing form is tested to need a token below
DRY_RUN_POSTS = {"/editing/import", "/communities/{code}/alignment/apply"}
#: the 12345 hotline's webhook authenticates with an HMAC signature of the body
SIGNED_POSTS = {"/intake/12345"}
#: Open311 authenticates writes with its own api_key parameter (GeoReport v2)
OPEN311_PREFIX = "/open311/"


def _write_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document that writes."""
    out = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() not in {"POST", "PUT", "PATCH", "DELETE"}:
                continue
            if path in READ_ONLY_POSTS | DRY_RUN_POSTS | SIGNED_POSTS or path.startswith(OPEN311_PREFIX):
                continue
            out.append((method.upper(), path))
    return out


def _concrete(path: str) -> str:
    return (
        path.replace("{layer}", "grids")
        .replace("{code}", "310115004004001")
        .replace("{ticket_id}", "1")
        .replace("{generation}", "1")
        .replace("{gen_a}", "1")
        .replace("{gen_b}", "2")
        .replace("{community}", "310115004004")
    )


@pytest.fixture(scope="module")
def app_and_url(sample_api):
    url, repo = sample_api
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    return create_app(get_settings(database_url=repo.url), repo), url


def test_every_write_endpoint_refuses_a_request_without_a_token(app_and_url):
    app, url = app_and_url
    routes = _write_routes(app)
    assert len(routes) >= 10  # the feature API, operations, tickets, generations …
    open_writes = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for method, path in routes:
            r = client.request(method, _concrete(path), json={})
            if r.status_code != 401:
                open_writes.append((method, path, r.status_code))
    assert not open_writes, "\n".join(map(str, open_writes))
    with httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/communities/310115004004/alignment/apply", json={"author": "x", "commit": True})
        assert r.status_code == 401
        r = client.post(
            "/editing/import",
            params={"commit": "true"},
            content=b"SQLite format 3\x00",
            headers={"Content-Type": "application/geopackage+sqlite3"},
        )
        assert r.status_code in (400, 401, 422)


def test_a_write_outside_the_tokens_role_or_scope_is_forbidden(app_and_url):
    _, url = app_and_url
    repo_url = app_and_url[0].state.repository.url
    viewer = make_token(repo_url, "viewer")
    other_street = make_token(repo_url, "planner", ("310115005000",))
    feature = {
        "type": "Feature",
        "properties": {"code": "310115004004001", "name": "x", "version": 1},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[121.5, 31.2], [121.51, 31.2], [121.51, 31.21], [121.5, 31.2]]],
        },
    }
    with httpx.Client(base_url=url, timeout=30) as client:
        for token in (viewer, other_street):
            r = client.put(
                "/collections/grids/items/310115004004001",
                json=feature,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/geo+json"},
            )
            assert r.status_code == 403, r.text
        r = client.post(
            "/tickets",
            json={"lon": 121.52, "lat": 31.23, "matter_code": "M20"},
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert r.status_code == 403, r.text


def test_a_forged_or_malformed_token_is_refused_with_401(app_and_url):
    _, url = app_and_url
    with httpx.Client(base_url=url, timeout=30) as client:
        for header in ("Bearer ggt_nope.nope", "Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer ' OR 1=1 --"):
            r = client.post("/tickets", json={"lon": 121.52, "lat": 31.23}, headers={"Authorization": header})
            assert r.status_code == 401, (header, r.status_code)
            assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_tokens_are_stored_hashed(app_and_url):
    import sqlalchemy as sa

    repo = app_and_url[0].state.repository
    token = make_token(repo.url, "planner", ("310115004000",))
    with repo.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM auth_tokens"))]
    secret = token.split(".", 1)[1]
    dump = repr(rows)
    assert rows and secret not in dump and token not in dump
