"""Issue 13, workers' phones beyond the feature API, over real HTTP on PostGIS with real tokens:
the GeoPackage export, feature history, the viewer's tiles and click-through. Who may see them is
one rule (:func:`gridgis.auth.tokens.sees_personal_data`)."""

from __future__ import annotations

import json

import httpx
import pyogrio
import pytest

from gridgis.maps.tiles import tile_for
from tests.ops.access import STREET_A, access_site

pytestmark = pytest.mark.postgis

#: holder → whether the phones of a street-A grid reach them (None: anonymous)
READERS = ((None, False), ("周查看", False), ("吴规划", False), ("赵网格", False), ("钱规划", True), ("王管理", True))


@pytest.fixture(scope="module")
def site():
    with access_site("gridgis_priv") as s:
        yield s


def _headers(site, holder):
    return site.auth(holder) if holder else {}


def _workers(value):
    return json.loads(value) if isinstance(value, str) else value


def _grid(site) -> str:
    return str(site.point_in(STREET_A, 0)["code"])[:15]


def test_the_geopackage_export_carries_phones_only_for_readers_who_may_see_them(site, tmp_path):
    grid = _grid(site)
    for holder, sees in READERS:
        r = httpx.get(f"{site.base}/editing/communities/{grid[:12]}.gpkg", headers=_headers(site, holder), timeout=60)
        assert r.status_code == 200, (holder, r.text)
        path = tmp_path / f"{holder}.gpkg"
        path.write_bytes(r.content)
        grids = pyogrio.read_dataframe(path, layer="grids", read_geometry=False)
        listed = [w for v in grids["workers"] if v for w in _workers(v)]
        assert listed and all(w.get("name") for w in listed), holder
        assert all(bool(w.get("phone")) is sees for w in listed), holder
        preview = httpx.post(
            f"{site.base}/editing/import", content=r.content, headers=_headers(site, holder), timeout=60
        )
        assert preview.status_code == 200 and preview.json()["changes"]["features"] == [], (
            holder,
            preview.text,
        )  # no edit


def test_feature_history_carries_phones_only_for_readers_who_may_see_them(site):
    grid = _grid(site)
    for holder, sees in (*READERS, ("李网格", True)):
        r = httpx.get(f"{site.base}/collections/grids/items/{grid}/history", headers=_headers(site, holder))
        assert r.status_code == 200, (holder, r.text)
        versions = [_workers(f["properties"]["workers"]) for f in r.json()["features"]]
        assert versions and all(versions), holder
        assert all(bool(w.get("phone")) is sees for ws in versions for w in ws), holder


def test_tiles_are_shared_so_they_never_carry_phones_even_for_an_admin(site):
    p = site.point_in(STREET_A, 0)
    x, y = tile_for(float(p["lon"]), float(p["lat"]), 14)
    for holder in (None, "李网格", "王管理"):
        r = httpx.get(f"{site.base}/tiles/grids/14/{x}/{y}.geojson", headers=_headers(site, holder), timeout=60)
        assert r.status_code == 200, r.text
        workers = [w for f in r.json()["features"] for w in _workers(f["properties"].get("workers") or [])]
        assert workers and all(w.get("name") and w.get("role") for w in workers), holder  # the popup's names stay
        assert not any("phone" in w for w in workers), holder
        assert "phone" not in r.text


def test_the_viewers_click_through_names_no_one(site):
    grid = _grid(site)
    for holder in (None, "王管理"):
        r = httpx.get(f"{site.base}/viewer/related/grids/{grid}", headers=_headers(site, holder), timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["compounds"] and "phone" not in r.text and "workers" not in r.text
