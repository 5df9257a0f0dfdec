"""Tokens, roles, scopes and the 401/403 split, on the library and over HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gridgis.auth.store import TokenStore, ensure_tables
from gridgis.auth.tokens import (
    Principal,
    check_scopes,
    hash_secret,
    require,
    scope_covers,
    split_token,
    token_of_header,
)
from gridgis.editing.testing import editing_server, seeded_repository
from gridgis.errors import AuthError, ForbiddenError, ValidationError


@pytest.fixture()
def store(tmp_path):
    repo = seeded_repository(f"sqlite:///{tmp_path / 'g.db'}")
    ensure_tables(repo.engine)
    yield TokenStore(repo.engine)
    repo.dispose()


def test_the_same_secret_hashes_differently_with_each_salt():
    assert hash_secret("s", "a") != hash_secret("s", "b") and len(hash_secret("s", "a")) == 64


def test_a_token_authenticates_until_revoked(store):
    token, info = store.create("王规划", "planner", ["110105001000"])
    assert store.authenticate(token) == Principal("王规划", "planner", ("110105001000",), info.token_id)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(AuthError):
        store.authenticate(tampered)
    store.revoke(info.token_id)
    with pytest.raises(AuthError, match="revoked"):
        store.authenticate(token)


def test_an_expired_token_is_refused(store):
    token, _ = store.create("临时", "viewer", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(AuthError, match="expired"):
        store.authenticate(token)


def test_foreign_tokens_and_bad_scopes_are_clear_errors():
    with pytest.raises(AuthError, match="gridgis token"):
        split_token("Bearer abc")
    with pytest.raises(ValidationError, match="scope"):
        check_scopes("planner", ["Beijing"])
    with pytest.raises(ValidationError, match="role"):
        check_scopes("mayor", [])


@pytest.mark.parametrize(
    ("scope", "code", "covered"),
    [
        ("110105001000", "110105001002003", True),  # a street covers its communities' grids
        ("110105001000", "110105002001001", False),  # but not another street's
        ("110105001001", "110105001001Q002B001", True),  # a community covers its buildings
        ("110105001001", "110105001000", False),  # not its street
        ("110105001001001", "11010500100100102", True),  # a grid covers its micro-grids
        ("*", "110105002001", True),
    ],
)
def test_scope_coverage_follows_the_code_hierarchy(scope, code, covered):
    assert scope_covers(scope, code) is covered


def test_roles_map_to_actions():
    assert require(Principal("a", "admin"), "edit_boundaries", "110105009001001")
    with pytest.raises(ForbiddenError, match="planner"):
        require(Principal("w", "worker", ("110105001001001",)), "edit_boundaries", "110105001001001")
    with pytest.raises(AuthError):
        require(None, "report")
    assert require(Principal("r", "reporter"), "report")


def test_over_http_a_missing_token_is_401_with_www_authenticate_and_a_wrong_role_403(tmp_path):
    with editing_server(str(tmp_path / "g.db")) as (base, tokens, _):
        body = {"grids": ["110105001001001", "110105001001002"]}
        r = httpx.post(f"{base}/operations/merge-grids", json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = httpx.post(
            f"{base}/operations/merge-grids", json=body, headers={"Authorization": f"Bearer {tokens['viewer']}"}
        )
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        r = httpx.post(f"{base}/operations/merge-grids", json=body, headers={"Authorization": "Basic abc"})
        assert r.status_code == 401


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {raw}"}


def test_the_token_is_read_from_bearer_or_from_the_password_of_basic():
    assert token_of_header("Bearer ggt_ab.cd") == "ggt_ab.cd"
    assert token_of_header(_basic("王规划", "ggt_ab.cd")["Authorization"]) == "ggt_ab.cd"
    assert token_of_header(_basic("", "ggt_ab.cd:x")["Authorization"]) == "ggt_ab.cd:x"  # only the first ':' splits
    for bad in ("Basic abc", "Basic", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x=1", "ggt_ab.cd", ""):
        with pytest.raises(AuthError):
            token_of_header(bad)
    with pytest.raises(AuthError, match="password"):
        token_of_header(_basic("user", "")["Authorization"])


def test_basic_auth_with_the_token_as_password_reads_private_layers_and_saves(tmp_path):
    """QGIS 3.22's built-in Basic authentication: any user name, the gridgis token as the password."""
    geo = {"content-type": "application/geo+json"}
    with editing_server(str(tmp_path / "g.db"), {"public_reads": False}) as (base, tokens, repo):
        url = f"{base}/collections/grids/items/110105001001001"
        assert httpx.get(url).status_code == 401
        r = httpx.get(url, headers=_basic("qgis", tokens["viewer"]))
        assert r.status_code == 200, r.text
        feat, tag = r.json(), r.headers["etag"]
        feat["properties"]["name"] = "基本认证改名"
        r = httpx.put(url, json=feat, headers={**_basic("任何人", tokens["planner"]), **geo, "If-Match": tag})
        assert r.status_code == 200, r.text
        assert repo.get_feature("grids", "110105001001001")["name"] == "基本认证改名"
        assert repo.current_generation().author == "planner"  # the token's holder, not the Basic user name
        # the role and scope of the token still apply
        r = httpx.put(url, json=feat, headers={**_basic("planner", tokens["viewer"]), **geo, "If-Match": '"2"'})
        assert r.status_code == 403
        # a wrong password, a malformed header or an unknown scheme: 401 problem+json, never ignored
        for headers in (
            _basic("qgis", tokens["viewer"] + "x"),
            _basic("qgis", ""),
            {"Authorization": "Basic %%%not-base64"},
            {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
            {"Authorization": "Negotiate abc"},
        ):
            r = httpx.get(url, headers=headers)
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", headers
        # Bearer keeps working
        assert httpx.get(url, headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 200
