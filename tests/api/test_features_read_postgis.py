"""The items reads on PostGIS (one round trip, GeoJSON written by PostGIS) answer exactly what the
frame path answers on SQLite: same features, properties, coordinates, counts, links, ETags and
personal-data rule (workers' phones only for readers whose scope covers the grid)."""

from __future__ import annotations

import json
from contextlib import ExitStack

import httpx
import pytest

from gridgis.errors import StorageUnavailableError
from tests.support.editing import live_api
from tests.support.storage import temporary_postgis_database

pytestmark = pytest.mark.postgis

TOKENS = {"viewer": ("viewer", []), "planner_b": ("planner", ["110105001002"]), "admin": ("admin", [])}


def _city():
    from gridgis.sample.tiny import tiny_city

    city = tiny_city()
    grids = city["grids"].copy()
    grids["workers"] = [
        [{"name": f"网格员{i}", "role": "full_time", "phone": f"1385580270{i}"}, {"name": "卢刚"}]
        for i in range(len(grids))
    ]
    city["grids"] = grids
    return city


#: the database URL each live API reads (to drop its connections)
_DATABASE_OF: dict[str, str] = {}


def _served(stack: ExitStack, url: str) -> tuple[str, dict[str, str]]:
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    repo = Repository(url)
    stack.callback(repo.dispose)
    repo.create_schema()
    repo.write_city(_city(), author="seed", message="tiny city with workers")
    ensure_tables(repo.engine)
    store = TokenStore(repo.engine)
    tokens = {name: store.create(name, role, scopes)[0] for name, (role, scopes) in TOKENS.items()}
    base = stack.enter_context(live_api(repo, get_settings(database_url=url)))
    _DATABASE_OF[base] = url
    return base, tokens


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with ExitStack() as stack:
        try:
            pg_url = stack.enter_context(temporary_postgis_database(prefix="gridgis_t_read"))
        except StorageUnavailableError as exc:
            pytest.skip(str(exc))
        sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('read') / 'city.db'}"
        yield _served(stack, pg_url), _served(stack, sqlite_url)


def _same(body: dict, base: str) -> dict:
    """An answer with what legitimately differs between two servers taken out (time, host)."""
    text = httpx.Response(200, json=body).text.replace(base, "BASE")
    out = json.loads(text)
    out.pop("timeStamp", None)
    for feature in out.get("features", [out]):  # JSONB keeps an object's keys in its own order
        props = feature.get("properties", {})
        for key in ("workers", "services"):
            if isinstance(props.get(key), str):
                props[key] = json.loads(props[key])
    return out


PATHS = [
    "/collections/grids/items",
    "/collections/grids/items?limit=1",
    "/collections/grids/items?limit=2&offset=1",
    "/collections/grids/items?limit=2&offset=40",
    "/collections/grids/items?bbox=116.40,39.90,116.403,39.905",
    "/collections/grids/items?community_code=110105001002",
    "/collections/grids/items?crs=http://www.opengis.net/def/crs/EPSG/0/4326",
    "/collections/grids/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857&limit=1",
    "/collections/stations/items",
    "/collections/micro_grids/items?generation=1",
    "/collections/grids/items/110105001001001",
    "/collections/grids/items/110105001002001",
    "/collections/grids/items/110105001002001?crs=http://www.opengis.net/def/crs/EPSG/0/4490",
    "/collections/grids/items/110105001009999",
]


@pytest.mark.parametrize("reader", [None, "viewer", "planner_b", "admin"])
def test_postgis_items_answer_what_sqlite_answers(servers, reader):
    (pg, pg_tokens), (lite, lite_tokens) = servers
    for path in PATHS:
        pg_headers = {"Authorization": f"Bearer {pg_tokens[reader]}"} if reader else {}
        lite_headers = {"Authorization": f"Bearer {lite_tokens[reader]}"} if reader else {}
        a = httpx.get(pg + path, headers=pg_headers, timeout=30)
        b = httpx.get(lite + path, headers=lite_headers, timeout=30)
        assert a.status_code == b.status_code, path
        if a.status_code != 200:
            continue
        assert a.headers["content-type"] == b.headers["content-type"], path
        assert a.headers.get("etag") == b.headers.get("etag"), path
        assert a.headers["content-crs"] == b.headers["content-crs"], path
        assert _same(a.json(), pg) == _same(b.json(), lite), path


def test_phones_reach_only_readers_whose_scope_covers_the_grid(servers):
    (pg, tokens), _ = servers
    body = httpx.get(
        f"{pg}/collections/grids/items", headers={"Authorization": f"Bearer {tokens['planner_b']}"}, timeout=30
    ).json()
    phones = {f["id"]: "phone" in f["properties"]["workers"] for f in body["features"]}
    assert phones and all(has == code.startswith("110105001002") for code, has in phones.items())
    assert all(f["properties"]["worker_count"] == 2 for f in body["features"])


CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def fast_served(monkeypatch):
    """The paths the fast path answered (it declines by returning None)."""
    from gridgis.api import fastpath

    served: list[str] = []
    answer = fastpath._answer

    async def recording(scope):
        found = await answer(scope)
        if found is not None:
            served.append(scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else ""))
        return found

    monkeypatch.setattr(fastpath, "_answer", recording)
    return served


@pytest.mark.parametrize("reader", [None, "viewer", "planner_b", "admin"])
def test_plain_item_read_answers_what_the_route_answers(servers, reader, fast_served):
    """``/items/{code}`` without a query string is served by the fast path (gridgis.api.fastpath);
    the same read with a query string goes through the FastAPI route: same status, headers, body
    (phones included or not by the same rule)."""
    (pg, tokens), _ = servers
    headers = {"Authorization": f"Bearer {tokens[reader]}"} if reader else {}
    for code in ("110105001001001", "110105001002001", "110105001009999"):
        path = f"/collections/grids/items/{code}"
        fast = httpx.get(pg + path, headers=headers, timeout=30)
        routed = httpx.get(pg + path, params={"crs": CRS84_URI}, headers=headers, timeout=30)
        assert fast.status_code == routed.status_code, code
        for name in ("content-type", "etag", "content-crs", "content-length"):
            assert fast.headers.get(name) == routed.headers.get(name), (code, name)
        assert fast.content == routed.content, code
    phones = httpx.get(pg + "/collections/grids/items/110105001002001", headers=headers, timeout=30).json()
    assert ("phone" in phones["properties"]["workers"]) == (reader in ("planner_b", "admin"))
    # the plain reads of existing features were the fast path's; with a query string, the route's
    first, second = "/collections/grids/items/110105001001001", "/collections/grids/items/110105001002001"
    assert fast_served == [first, second, second]  # not the missing feature (404), nor any with a query


PLAIN_PAGES = [
    "/collections/grids/items",
    "/collections/grids/items?limit=2",
    "/collections/grids/items?limit=2&offset=1",
    "/collections/grids/items?offset=1&limit=2&bbox=116.40,39.90,116.403,39.905",
    "/collections/grids/items?limit=2&offset=40",
    "/collections/micro_grids/items?bbox=116.40,39.90,116.403,39.905",
]


@pytest.mark.parametrize("reader", [None, "planner_b"])
def test_plain_pages_answer_what_the_route_answers(servers, reader, fast_served):
    """Pages with only limit/offset/bbox are served by the fast path; with ``crs`` (the default
    value) the route serves them: the same answer, links aside (they repeat the query)."""
    (pg, tokens), _ = servers
    headers = {"Authorization": f"Bearer {tokens[reader]}"} if reader else {}
    for path in PLAIN_PAGES:
        fast = httpx.get(pg + path, headers=headers, timeout=30)
        routed = httpx.get(f"{pg}{path}{'&' if '?' in path else '?'}crs={CRS84_URI}", headers=headers, timeout=30)
        assert fast.status_code == routed.status_code == 200, path
        for name in ("content-type", "content-crs"):
            assert fast.headers.get(name) == routed.headers.get(name), (path, name)
        a, b = fast.json(), routed.json()
        for body in (a, b):
            body.pop("timeStamp")
            for link in body["links"]:
                link["href"] = _without_crs(link["href"])
        assert a == b, path
        assert a["numberReturned"] == len(a["features"])
    assert fast_served == PLAIN_PAGES  # and none of the routed ones


def _without_crs(href: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(href)
    query = sorted((k, v) for k, v in parse_qsl(parts.query) if k != "crs")
    return parts._replace(query=urlencode(query)).geturl()


def test_plain_pages_refuse_what_the_route_refuses(servers):
    (pg, _), _ = servers
    for query, status in (
        ("limit=0", 400),
        ("limit=abc", 400),
        ("offset=-1", 400),
        ("bbox=1,2,3", 400),
        ("bbox=200,1,201,2", 400),
        ("limit=1&limit=2", 200),
        ("nosuch=1", 400),
    ):
        r = httpx.get(f"{pg}/collections/grids/items?{query}", timeout=30)
        assert r.status_code in (status, 422), (query, r.status_code, r.text)
        if r.status_code != 200:
            assert r.headers["content-type"].startswith("application/problem+json"), query
    r = httpx.get(f"{pg}/collections/grids/items?limit=2", headers={"Authorization": "Bearer ggt_0.bad"}, timeout=30)
    assert r.status_code == 401


def test_plain_item_read_refuses_what_the_route_refuses(servers):
    (pg, _), _ = servers
    path = "/collections/grids/items/110105001002001"
    for header in ("Bearer ggt_000000000000.not-a-real-secret", "Basic not-base64!", "Token x"):
        r = httpx.get(pg + path, headers={"Authorization": header}, timeout=30)
        assert r.status_code == 401, header
        assert r.headers["content-type"].startswith("application/problem+json")
    missing = httpx.get(pg + "/collections/grids/items/110105001009999", timeout=30)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(pg + "/collections/nolayer/items/1", timeout=30).status_code == 404


def test_plain_item_read_needs_a_token_when_public_reads_are_off(tmp_path):
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.settings import get_settings

    with ExitStack() as stack:
        try:
            url = stack.enter_context(temporary_postgis_database(prefix="gridgis_t_closed"))
        except StorageUnavailableError as exc:
            pytest.skip(str(exc))
        from gridgis.storage import Repository

        repo = Repository(url)
        stack.callback(repo.dispose)
        repo.create_schema()
        repo.write_city(_city(), author="seed", message="tiny city")
        ensure_tables(repo.engine)
        token = TokenStore(repo.engine).create("看", "viewer", [])[0]
        base = stack.enter_context(live_api(repo, get_settings(database_url=url, public_reads=False)))
        path = "/collections/grids/items/110105001002001"
        anonymous = httpx.get(base + path, timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        assert httpx.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200


def test_reads_recover_from_dropped_pooled_connections_without_an_error(servers):
    """No pre-ping on checkout: a read that meets a connection the server dropped is run again on a
    new one (and the pool is renewed), so the caller sees no 503."""
    (pg, _), _ = servers
    path = "/collections/grids/items/110105001002001"
    assert httpx.get(pg + path, timeout=30).status_code == 200
    assert httpx.get(pg + "/collections/grids/items?limit=2", timeout=30).status_code == 200
    for read in (path, "/collections/grids/items?limit=2", "/collections/grids/items?bbox=116.40,39.90,116.403,39.905"):
        _drop_connections(pg)
        r = httpx.get(pg + read, timeout=30)
        assert r.status_code == 200, (read, r.text)


def _drop_connections(base: str) -> None:
    """Terminate every server connection to the database the API at ``base`` reads."""
    import sqlalchemy as sa

    url = _DATABASE_OF[base]
    name = sa.make_url(url).database
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
    admin.dispose()
