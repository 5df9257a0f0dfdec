"""Replays of the requests QGIS's OAPIF provider sends (qgis/QGIS src/providers/wfs/oapif/).

What the provider does, and what these tests send the same way:

- opening a layer: landing page, the API document (``service-desc``), the collection, the
  conformance classes, ``items?limit=10``; then ``OPTIONS`` on the items URL (POST → can add) and on
  the first item's URL (PUT → can change attributes and geometries, DELETE → can delete, PATCH →
  uses merge-patches). We do not advertise PATCH, so QGIS never sends a patch without the version.
- changing attributes or a geometry (no PATCH): it takes the feature as it downloaded it, sets the
  new values and PUTs the whole feature (``id`` at top level, every property, no ``bbox``) as
  ``application/geo+json``, with ``Content-Crs`` only when the layer CRS is not CRS84 (then in that
  CRS's axis order: lat/lon for EPSG:4326). It never sends ``If-Match``: the echoed ``version``
  property is what protects the edit.
- adding: POST of the feature without ``id``; the new id is read from ``Location`` after ``/items/``.
- deleting: a bare DELETE (refused here with 428, since it carries no version).
"""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from gridgis.editing.testing import editing_server
from tests.api.qgiskit import Qgis332, sample_store

G1, G2 = "110105001001001", "110105001001002"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"


class QgisLayer:
    """What QGIS holds for one OAPIF layer: capabilities and the features as downloaded."""

    def __init__(self, base: str, typename: str, token: str) -> None:
        self.http = httpx.Client(
            timeout=30, headers={"Authorization": f"Bearer {token}", "Accept": "application/geo+json, application/json"}
        )
        self.base = base
        landing = self.http.get(f"{base}/").json()
        links = {link["rel"]: link["href"] for link in landing["links"]}
        assert self.http.get(links["service-desc"]).status_code == 200
        self.collection_url = f"{links['data']}/{typename}"
        assert self.http.get(self.collection_url).status_code == 200
        self.conformance = self.http.get(links["conformance"]).json()["conformsTo"]
        self.items_url = f"{self.collection_url}/items"
        first = self.http.get(f"{self.items_url}?limit=10").json()
        allow_items = self.http.options(self.items_url).headers.get("allow", "")
        self.can_add = "POST" in allow_items
        test_id = first["features"][0]["id"] if first["features"] else "unknown_id"
        allow_item = self.http.options(f"{self.items_url}/{test_id}").headers.get("allow", "")
        self.can_change = "PUT" in allow_item
        self.can_delete = "DELETE" in allow_item
        self.supports_patch = "PATCH" in allow_item
        self.cache = {f["id"]: f for f in self.download()}

    def download(self) -> list[dict]:
        url, out = f"{self.items_url}?limit=1000", []
        while url:
            page = self.http.get(url).json()
            out += page["features"]
            url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        return out

    def _exported(self, fid: str, feature: dict, swap: bool) -> dict:
        j = {
            "type": "Feature",
            "id": fid,
            "geometry": copy.deepcopy(feature["geometry"]),
            "properties": dict(feature["properties"]),
        }
        if swap:
            j["geometry"]["coordinates"] = _swap(j["geometry"]["coordinates"])
        return j

    def change_attributes(self, fid: str, **values) -> httpx.Response:
        assert self.can_change and not self.supports_patch
        f = copy.deepcopy(self.cache[fid])
        f["properties"].update(values)
        r = self.http.put(
            f"{self.items_url}/{fid}",
            content=_dump(self._exported(fid, f, False)),
            headers={"Content-Type": "application/geo+json"},
        )
        if r.status_code < 300:
            self.cache[fid] = f
        return r

    def change_geometry(self, fid: str, geometry: dict, content_crs: str | None = None) -> httpx.Response:
        f = copy.deepcopy(self.cache[fid])
        f["geometry"] = geometry
        headers = {"Content-Type": "application/geo+json"}
        if content_crs:
            headers["Content-Crs"] = content_crs
        return self.http.put(
            f"{self.items_url}/{fid}", content=_dump(self._exported(fid, f, bool(content_crs))), headers=headers
        )

    def add(self, feature: dict) -> str:
        j = {k: v for k, v in feature.items() if k not in ("id", "bbox")}
        r = self.http.post(self.items_url, content=_dump(j), headers={"Content-Type": "application/geo+json"})
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        return location[location.rindex("/items/") + len("/items/") :]

    def delete(self, fid: str) -> httpx.Response:
        return self.http.delete(f"{self.items_url}/{fid}")

    def reload(self) -> None:
        self.cache = {f["id"]: f for f in self.download()}


def _dump(obj: dict) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _swap(coords):
    if isinstance(coords[0], (int, float)):
        return [coords[1], coords[0]]
    return [_swap(c) for c in coords]


@pytest.fixture()
def server(tmp_path):
    tokens = {"王规划": ("planner", ["110105001000"]), "李规划": ("planner", ["110105001001"])}
    with editing_server(str(tmp_path / "g.db"), tokens=tokens) as (base, issued, repo):
        yield base, issued, repo


def test_qgis_learns_it_may_add_and_change_and_delete_but_not_patch(server):
    base, tokens, _ = server
    layer = QgisLayer(base, "grids", tokens["王规划"])
    assert (layer.can_add, layer.can_change, layer.can_delete, layer.supports_patch) == (True, True, True, False)
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in layer.conformance
    assert len(layer.cache) == 4 and all("version" in f["properties"] for f in layer.cache.values())


def test_two_planners_saving_the_same_grid_the_second_is_refused_and_nothing_is_lost(server):
    base, tokens, repo = server
    wang = QgisLayer(base, "grids", tokens["王规划"])
    li = QgisLayer(base, "grids", tokens["李规划"])
    assert wang.change_attributes(G1, name="多福巷一网格（调整）").status_code == 200
    refused = li.change_attributes(G1, households=420)
    assert refused.status_code == 412 and "reload" in refused.json()["detail"]
    stored = repo.get_feature("grids", G1)
    assert (stored["name"], stored["households"], stored["version"]) == ("多福巷一网格（调整）", 400, 2)
    li.reload()
    assert li.change_attributes(G1, households=420).status_code == 200
    stored = repo.get_feature("grids", G1)
    assert (stored["name"], stored["households"], stored["version"]) == ("多福巷一网格（调整）", 420, 3)


def test_a_geometry_saved_in_epsg_4326_lat_lon_order_is_stored_as_lon_lat(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "grids", tokens["王规划"])
    # add a vertex on the shared edge: the coverage does not change, so the save is valid
    ring = [
        [116.405, 39.900],
        [116.405, 39.905],
        [116.405, 39.910],
        [116.400, 39.910],
        [116.400, 39.900],
        [116.405, 39.900],
    ]
    r = layer.change_geometry(G1, {"type": "Polygon", "coordinates": [ring]}, content_crs=EPSG4326)
    assert r.status_code == 200, r.text
    stored = repo.get_feature("grids", G1)["geometry"]
    assert stored.exterior.coords[1] == (116.405, 39.905) and stored.bounds == (116.4, 39.9, 116.405, 39.91)


def test_the_same_lat_lon_geometry_without_content_crs_is_refused_with_an_axis_hint(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "grids", tokens["王规划"])
    ring = [[39.900, 116.405], [39.910, 116.405], [39.910, 116.400], [39.900, 116.400], [39.900, 116.405]]
    r = layer.change_geometry(G1, {"type": "Polygon", "coordinates": [ring]})
    assert r.status_code == 422 and "lat/lon" in r.json()["detail"]
    assert repo.get_feature("grids", G1)["version"] == 1


def test_moving_a_shared_boundary_feature_by_feature_is_refused_with_the_neighbour_named(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "grids", tokens["王规划"])
    grown = [[116.400, 39.900], [116.406, 39.900], [116.406, 39.910], [116.400, 39.910], [116.400, 39.900]]
    r = layer.change_geometry(G1, {"type": "Polygon", "coordinates": [grown]})
    assert r.status_code == 422
    overlap = [p for p in r.json()["problems"] if p["kind"] == "overlap"]
    assert overlap and overlap[0]["details"]["other"] == G2
    assert len(repo.generations()) == 1


def test_adding_a_station_from_qgis_returns_its_id_in_location(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "stations", tokens["王规划"])
    fields = {k: None for k in next(iter(layer.cache.values()))["properties"]}
    fields.update(code="110105001001S005", name="帮办代办点", kind="help_desk", area_code="110105001001")
    new_id = layer.add(
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.402, 39.906]}, "properties": fields}
    )
    assert new_id == "110105001001S005"
    assert repo.get_feature("stations", new_id)["kind"] == "help_desk"


def test_a_bare_delete_from_qgis_is_refused_with_428_and_keeps_the_feature(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "stations", tokens["王规划"])
    r = layer.delete("110105001001S001")
    assert r.status_code == 428 and "If-Match" in r.json()["detail"]
    assert repo.get_feature("stations", "110105001001S001")["version"] == 1


def test_a_planner_cannot_save_outside_their_communities_from_qgis(server):
    base, tokens, repo = server
    layer = QgisLayer(base, "grids", tokens["李规划"])
    r = layer.change_attributes("110105001002001", households=1)
    assert r.status_code == 403 and repo.get_feature("grids", "110105001002001")["households"] == 400


def test_a_planner_saving_the_same_grid_twice_in_one_qgis_session_is_not_refused(server):
    """QGIS keeps the version it loaded; the second own save is rebased when nothing conflicts."""
    base, tokens, repo = server
    wang = QgisLayer(base, "grids", tokens["王规划"])
    assert wang.change_attributes(G1, name="第一次保存").status_code == 200
    assert wang.cache[G1]["properties"]["version"] == 1  # what QGIS still holds
    r = wang.change_attributes(G1, households=410)
    assert r.status_code == 200, r.text
    stored = repo.get_feature("grids", G1)
    assert (stored["name"], stored["households"], stored["version"]) == ("第一次保存", 410, 3)
    # another planner's stale save is still refused, even after the rebase
    li = QgisLayer.__new__(QgisLayer)
    li.__dict__.update(wang.__dict__)
    li.http = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {tokens['李规划']}"})
    assert li.change_attributes(G1, population=5).status_code == 412


# --------------------------------------------------------------------------- QGIS ≥ 3.32 on the sample city
# (coordinates with 7 decimals, saved back by QGIS with 6: see tests/api/qgiskit.py)
SG = "310115005039001"  # a grid of the sample city with two workers
SC = "310115005039Q001"  # a compound of the same community


@pytest.fixture()
def sample(tmp_path):
    from gridgis.editing.testing import live_api
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    path = tmp_path / "sample.db"
    tokens = sample_store(path)
    repo = Repository(f"sqlite:///{path}")
    with live_api(repo, get_settings(database_url=repo.url)) as base:
        yield base, tokens, repo
    repo.dispose()


def test_every_field_of_a_grid_reaches_qgis_workers_as_json_text_with_flat_summaries(sample):
    base, tokens, repo = sample
    layer = Qgis332(base, "grids", tokens["陈规划"])
    props = layer.cache[SG]["properties"]
    stored = repo.get_feature("grids", SG)["workers"]
    assert all(v is not None for k, v in props.items() if k != "dedicated_for"), props
    assert json.loads(props["workers"]) == stored and len(stored) == 2
    assert props["worker_count"] == 2 and props["worker_names"] == "、".join(w["name"] for w in stored)
    micro = Qgis332(base, "micro_grids", tokens["陈规划"])
    assert all(isinstance(f["properties"]["workers"], str) for f in micro.cache.values())


def test_a_qgis_332_attribute_save_of_a_grid_is_accepted_and_keeps_the_geometry_and_workers(sample):
    base, tokens, repo = sample
    before = repo.get_feature("grids", SG)
    r = Qgis332(base, "grids", tokens["陈规划"]).save(SG, name="崂山二村第1网格（调整）")
    assert r.status_code == 200, r.text
    after = repo.get_feature("grids", SG)
    assert after["name"] == "崂山二村第1网格（调整）" and after["version"] == before["version"] + 1
    assert after["geometry"].equals_exact(before["geometry"], 0) and after["workers"] == before["workers"]


def test_a_qgis_332_attribute_save_of_a_compound_does_not_move_its_vertices(sample):
    base, tokens, repo = sample
    before = repo.get_feature("compounds", SC)
    r = Qgis332(base, "compounds", tokens["陈规划"]).save(SC, households=before["households"] + 1)
    assert r.status_code == 200, r.text
    assert repo.get_feature("compounds", SC)["geometry"].equals_exact(before["geometry"], 0)


def test_a_structured_field_qgis_could_not_read_and_sends_as_null_keeps_its_stored_value(sample):
    base, tokens, repo = sample
    layer = Qgis332(base, "grids", tokens["陈规划"])
    before = repo.get_feature("grids", SG)["workers"]
    assert layer.save(SG, workers=None, households=390).status_code == 200
    assert repo.get_feature("grids", SG)["workers"] == before
    # a repeated save by the same planner (QGIS still holds version 1) is not a conflict
    r = layer.save(SG, workers=None, households=395)
    assert r.status_code == 200, r.text
    stored = repo.get_feature("grids", SG)
    assert (stored["households"], stored["workers"], stored["version"]) == (395, before, 3)


def test_workers_edited_as_json_text_in_qgis_are_stored_as_structured_values(sample):
    base, tokens, repo = sample
    layer = Qgis332(base, "grids", tokens["陈规划"])
    crew = [{"name": "王芳", "role": "full_time", "phone": "13800000000"}]
    r = layer.save(SG, workers=json.dumps(crew, ensure_ascii=False))
    assert r.status_code == 200, r.text
    assert repo.get_feature("grids", SG)["workers"] == crew
    assert r.json()["properties"]["worker_names"] == "王芳"
    # clearing is explicit: an empty list (or empty text), never a NULL
    assert layer.save(SG, workers="[]").status_code == 200
    assert repo.get_feature("grids", SG)["workers"] == []


def test_a_qgis_332_geometry_save_that_opens_a_gap_is_refused_with_a_readable_status_line(sample):
    base, tokens, repo = sample
    layer = Qgis332(base, "grids", tokens["陈规划"])
    ring = layer.cache[SG]["geometry"]["coordinates"][0]
    moved = [list(p) for p in ring]
    moved[0] = moved[-1] = [moved[0][0] - 0.0003, moved[0][1] - 0.0002]  # ~30 m into the grid
    r = layer.save(SG, geometry={"type": "Polygon", "coordinates": [moved]})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "gap" in {p["kind"] for p in r.json()["problems"]}
    # QGIS shows "... server replied: <reason phrase>": the reason names the problem, in ASCII
    assert r.reason_phrase != "Unprocessable Entity" and "gap" in r.reason_phrase, r.reason_phrase
    assert r.reason_phrase.isascii() and SG in r.reason_phrase
    assert repo.get_feature("grids", SG)["version"] == 1


def test_a_stale_save_by_another_planner_is_refused_with_a_readable_status_line(sample):
    base, tokens, repo = sample
    tokens.update(sample_store_token(repo, "吴规划", ["310115005000"]))
    mine, theirs = Qgis332(base, "grids", tokens["陈规划"]), Qgis332(base, "grids", tokens["吴规划"])
    assert mine.save(SG, households=401).status_code == 200
    r = theirs.save(SG, households=402)
    assert r.status_code == 412 and "reload" in r.reason_phrase.lower(), r.reason_phrase
    assert repo.get_feature("grids", SG)["households"] == 401


def sample_store_token(repo, name, scopes):
    from gridgis.auth.store import TokenStore

    return {name: TokenStore(repo.engine).create(name, "planner", scopes)[0]}


def test_a_merge_patch_with_6_decimal_coordinates_keeps_the_stored_vertices(sample):
    base, tokens, repo = sample
    from tests.api.qgiskit import round6

    before = repo.get_feature("compounds", SC)["geometry"]
    current = httpx.get(f"{base}/collections/compounds/items/{SC}")
    patch = {"geometry": {"type": "Polygon", "coordinates": round6(current.json()["geometry"]["coordinates"])}}
    r = httpx.patch(
        f"{base}/collections/compounds/items/{SC}",
        json=patch,
        headers={
            "Authorization": f"Bearer {tokens['陈规划']}",
            "If-Match": current.headers["etag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert r.status_code == 200, r.text
    stored = repo.get_feature("compounds", SC)  # nothing changed, so no new version either
    assert stored["version"] == 1 and stored["geometry"].equals_exact(before, 0)
