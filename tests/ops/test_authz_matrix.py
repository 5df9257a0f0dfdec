"""The authorisation matrix, generated from /openapi.json: every write operation × anonymous, a bad
token, the wrong role, the wrong scope and the right token, over real HTTP on PostGIS with real tokens.

Every write operation of the published API must have a row in :data:`CASES` (a new endpoint fails
this test until its access is stated). Refusals come first and must change nothing; they are
given bodies that are empty or wrong on purpose, because role and scope are checked before the
body is interpreted (a refused caller learns nothing about objects).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.ops.access import STREET_A, access_site

pytestmark = pytest.mark.postgis

COMMUNITY = "310115004004"
GRID, GRID2, GRID3 = f"{COMMUNITY}001", f"{COMMUNITY}002", f"{COMMUNITY}003"
BAD = {"Authorization": "Bearer ggt_000000000000.forged"}
GEO = "application/geo+json"


@dataclass
class Case:
    """How one write operation is called, who may call it and who may not.

    ``right``: the holder who may; ``wrong_role``/``wrong_scope``: holders who must get 403, or
    ``None`` with the reason in ``why`` (a reader endpoint has no role or scope to miss).
    ``anonymous_ok``: anonymous callers are served even with public reads off (Open311 posting).
    """

    path: str
    right: str
    wrong_role: str | None
    wrong_scope: str | None
    why: str = ""
    anonymous_ok: bool = False
    strict: bool = True  # the right token must get 2xx (else: anything but 401/403/5xx)
    named: Any = None  # the refused callers' body: names the objects (in street A), wrong in everything else


CASES: dict[tuple[str, str], Case] = {
    ("POST", "/collections/{layer}/items"): Case("/collections/stations/items", "钱规划", "李网格", "吴规划"),
    ("PUT", "/collections/{layer}/items/{code}"): Case(
        f"/collections/grids/items/{GRID}", "钱规划", "李网格", "吴规划"
    ),
    ("PATCH", "/collections/{layer}/items/{code}"): Case(
        f"/collections/grids/items/{GRID2}", "钱规划", "李网格", "吴规划"
    ),
    ("DELETE", "/collections/{layer}/items/{code}"): Case(
        f"/collections/stations/items/{COMMUNITY}S005", "钱规划", "李网格", "吴规划"
    ),
    ("POST", "/operations/move-boundary"): Case(
        "/operations/move-boundary", "钱规划", "李网格", "吴规划", strict=False
    ),
    ("POST", "/operations/transfer-compound"): Case(
        "/operations/transfer-compound", "钱规划", "李网格", "吴规划", strict=False
    ),
    ("POST", "/operations/transfer-buildings"): Case(
        "/operations/transfer-buildings", "钱规划", "李网格", "吴规划", strict=False
    ),
    ("POST", "/operations/split-grid"): Case("/operations/split-grid", "钱规划", "李网格", "吴规划", strict=False),
    ("POST", "/operations/merge-grids"): Case("/operations/merge-grids", "钱规划", "李网格", "吴规划"),
    ("POST", "/operations/apply-proposal"): Case(
        "/operations/apply-proposal", "钱规划", "李网格", "吴规划", strict=False
    ),
    ("POST", "/collections/{layer}/validate"): Case(
        "/collections/grids/validate", "周查看", None, None, "a check that stores nothing: any reader"
    ),
    ("POST", "/validate"): Case("/validate", "周查看", None, None, "a check that stores nothing: any reader"),
    ("POST", "/generations/{generation}/revert"): Case("/generations/{gen}/revert", "钱规划", "李网格", "吴规划"),
    ("POST", "/editing/import"): Case(
        "/editing/import?commit=true",
        "钱规划",
        "李网格",
        None,
        "an unchanged export changes no object, so no scope can be missed",
    ),
    ("POST", "/route"): Case("/route", "周查看", None, None, "routing stores nothing: any reader"),
    ("POST", "/tickets"): Case("/tickets", "李网格", "周查看", "赵网格"),
    ("POST", "/tickets/escalations"): Case(
        "/tickets/escalations", "李网格", "孙上报", None, "scope selects the tickets escalated (test_access)"
    ),
    ("POST", "/tickets/{ticket_id}/transitions"): Case("/tickets/{tid}/transitions", "李网格", "孙上报", "赵网格"),
    ("POST", "/open311/v2/requests.{fmt}"): Case(
        "/open311/v2/requests.json", "孙上报", None, None, "GeoReport v2 posting is open (api_key)", anonymous_ok=True
    ),
    ("POST", "/communities/{code}/alignment/proposal"): Case(
        f"/communities/{COMMUNITY}/alignment/proposal", "周查看", None, None, "a proposal stores nothing: any reader"
    ),
    ("POST", "/communities/{code}/alignment/apply"): Case(
        f"/communities/{COMMUNITY}/alignment/apply", "钱规划", "李网格", "吴规划"
    ),
}


#: what the refused callers send: the objects are named, the rest of the body is wrong on purpose
NAMED: dict[str, Any] = {
    "/collections/{layer}/items": {"type": "Feature", "properties": {"code": f"{COMMUNITY}S098"}, "geometry": "x"},
    "/operations/move-boundary": {"a": GRID, "b": GRID2, "geometry": {"type": "Nope"}},
    "/operations/transfer-compound": {"compound": f"{COMMUNITY}Q001", "to_grid": 7},
    "/operations/transfer-buildings": {"buildings": [f"{COMMUNITY}Q001B001"], "to_grid": None},
    "/operations/split-grid": {"grid": GRID, "line": {"type": "Point"}},
    "/operations/merge-grids": {"grids": [GRID, "310115005039001"]},
    "/operations/apply-proposal": {"community": COMMUNITY, "proposal": {"features": "x"}},
    "/communities/{code}/alignment/apply": {"commit": True},
}


@pytest.fixture(scope="module")
def site():
    with access_site(prefix="gridgis_authz") as s:
        admin = s.auth("王管理")
        # a generation after the first, in street A, so a revert to generation 1 has objects to refuse
        r = httpx.get(f"{s.base}/collections/grids/items/{GRID3}", headers=admin, timeout=60)
        r = httpx.patch(
            f"{s.base}/collections/grids/items/{GRID3}",
            json={"properties": {"name": "矩阵测试网格"}},
            headers={**admin, "content-type": "application/merge-patch+json", "If-Match": r.headers["etag"]},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        s.extra["gen"] = 1
        p = s.point_in(STREET_A, 0)
        t = httpx.post(
            f"{s.base}/tickets",
            json={"lon": p["lon"], "lat": p["lat"], "matter_code": "M11"},
            headers=admin,
            timeout=60,
        )
        assert t.status_code == 201, t.text
        s.extra["tid"] = t.json()["id"]
        yield s


def _request(site, key: tuple[str, str], case: Case, headers: dict[str, str], valid: bool) -> httpx.Response:
    """Call the operation; ``valid`` builds a body that can succeed, else an empty or wrong one."""
    method, template = key
    path = case.path.replace("{gen}", str(site.extra["gen"])).replace("{tid}", str(site.extra["tid"]))
    kwargs: dict[str, Any] = {"json": {}}
    headers = dict(headers)
    if template == "/editing/import":
        gpkg = b"not a geopackage"
        if valid:  # exported now: the feature writes of this run came before
            url = f"{site.base}/editing/communities/{COMMUNITY}.gpkg"
            gpkg = httpx.get(url, headers=site.auth("王管理"), timeout=120).content
        kwargs = {"content": gpkg}
        headers["content-type"] = "application/geopackage+sqlite3"
    elif template.startswith("/open311/"):
        p = site.point_in(STREET_A, 1)
        kwargs = {"data": {"service_code": "M11", "lat": p["lat"], "long": p["lon"]} if valid else {}}
    elif valid:
        kwargs = _valid(site, key, headers)
    elif template == "/tickets":  # the scope of a new ticket is where it is: a valid report in street A
        p = site.point_in(STREET_A, 5)
        kwargs = {"json": {"lon": p["lon"], "lat": p["lat"], "matter_code": "M11"}}
    elif template in NAMED:
        kwargs = {"json": NAMED[template]}
    return httpx.request(method, f"{site.base}{path}", headers=headers, timeout=120, **kwargs)


def _valid(site, key: tuple[str, str], headers: dict[str, str]) -> dict[str, Any]:
    method, template = key
    admin = site.auth("王管理")
    p = site.point_in(STREET_A, 2)
    if template == "/editing/import":
        return {}
    if template == "/collections/{layer}/items" and method == "POST":
        p = site.point_in(GRID, 0)
        headers["content-type"] = GEO
        props = {"code": f"{COMMUNITY}S099", "name": "矩阵测试站", "kind": "party_mass_centre", "level": "community"}
        props["area_code"] = COMMUNITY
        return {
            "json": {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
            }
        }
    if template == "/collections/{layer}/items/{code}":
        layer, code = (
            ("stations", f"{COMMUNITY}S005") if method == "DELETE" else ("grids", GRID if method == "PUT" else GRID2)
        )
        got = httpx.get(f"{site.base}/collections/{layer}/items/{code}", headers=admin, timeout=60)
        headers["If-Match"] = got.headers["etag"]
        if method == "DELETE":
            return {}
        if method == "PATCH":
            headers["content-type"] = "application/merge-patch+json"
            return {"json": {"properties": {"name": "矩阵改名"}}}
        headers["content-type"] = GEO
        return {"json": got.json()}
    bodies: dict[str, Any] = {
        "/operations/move-boundary": {
            "a": GRID,
            "b": GRID2,
            "geometry": {"type": "Polygon", "coordinates": []},
            "dry_run": True,
        },
        "/operations/transfer-compound": {"compound": f"{COMMUNITY}Q001", "to_grid": GRID2, "dry_run": True},
        "/operations/transfer-buildings": {"buildings": [f"{COMMUNITY}Q001B001"], "to_grid": GRID2, "dry_run": True},
        "/operations/split-grid": {
            "grid": GRID,
            "line": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            "dry_run": True,
        },
        "/operations/merge-grids": {"grids": [GRID, GRID2], "dry_run": True},
        "/operations/apply-proposal": {
            "community": COMMUNITY,
            "proposal": {"type": "FeatureCollection", "features": []},
            "dry_run": True,
        },
        "/collections/{layer}/validate": {"type": "FeatureCollection", "features": []},
        "/validate": {"layer": "grids", "type": "FeatureCollection", "features": []},
        "/generations/{generation}/revert": {},
        "/route": [[p["lon"], p["lat"]]],
        "/tickets": {"lon": p["lon"], "lat": p["lat"], "matter_code": "M11"},
        "/tickets/escalations": {},
        "/tickets/{ticket_id}/transitions": {"action": "triage"},
        "/communities/{code}/alignment/proposal": {},
        "/communities/{code}/alignment/apply": {"commit": True, "message": "矩阵"},
    }
    if template in (
        "/collections/{layer}/validate",
        "/validate",
        "/operations/move-boundary",
        "/operations/split-grid",
    ):
        headers["content-type"] = "application/json"
    return {"json": bodies[template]}


def test_every_write_operation_has_a_row_and_the_matrix_holds(site):
    schema = httpx.get(f"{site.base}/openapi.json", timeout=60).json()
    writes = {
        (m.upper(), path)
        for path, ops in schema["paths"].items()
        for m in ops
        if m.upper() in ("POST", "PUT", "PATCH", "DELETE")
    }
    assert writes == set(CASES), f"missing rows: {writes - set(CASES)}; rows of no operation: {set(CASES) - writes}"
    before = _state(site)
    wrong: list[str] = []
    cells: Counter[str] = Counter()

    def expect(
        column: str, key: tuple[str, str], r: httpx.Response, ok: set[int] | None, bad: set[int] = frozenset()
    ) -> None:
        cells[column] += 1
        good = (r.status_code in ok) if ok is not None else (r.status_code not in bad and r.status_code < 500)
        if not good or (
            r.status_code >= 400
            and not r.headers.get("content-type", "").startswith(("application/problem+json", "application/json"))
        ):
            wrong.append(f"{column:11} {key[0]} {key[1]}: {r.status_code} {r.text[:200]}")

    for key, case in CASES.items():
        closed = httpx.request(
            key[0],
            f"{site.closed}{case.path.replace('{gen}', '1').replace('{tid}', str(site.extra['tid']))}",
            json={},
            timeout=60,
        )
        expect("anonymous", key, closed, None if case.anonymous_ok else {401}, {401, 403})
        expect("bad token", key, _request(site, key, case, BAD, valid=False), {401})
        if case.wrong_role:
            expect("wrong role", key, _request(site, key, case, site.auth(case.wrong_role), valid=False), {403})
        else:
            cells["wrong role n/a"] += 1
        if case.wrong_scope:
            expect("wrong scope", key, _request(site, key, case, site.auth(case.wrong_scope), valid=False), {403})
        else:
            cells["wrong scope n/a"] += 1
    assert _state(site) == before, "a refused write changed something"
    strict_ok = 0
    for key, case in CASES.items():
        r = _request(site, key, case, site.auth(case.right), valid=True)
        expect("right token", key, r, set(range(200, 300)) if case.strict else None, {401, 403})
        strict_ok += 200 <= r.status_code < 300
    print(f"\nauthz matrix: {dict(cells)}; right token 2xx: {strict_ok}/{len(CASES)}")
    assert not wrong, "\n".join(wrong)


def _state(site) -> tuple[int, int]:
    import sqlalchemy as sa

    with site.repo.engine.connect() as conn:
        gens = conn.execute(sa.text("SELECT count(*) FROM generations")).scalar_one()
        tickets = conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one()
    return int(gens), int(tickets)
