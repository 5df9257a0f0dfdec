"""``Repository.read_geojson_page``: on PostGIS the same rows and count as ``read_layer`` + ``count``
(one statement), geometry as GeoJSON text that reads back to the stored coordinates; ``None`` on SQLite."""

from __future__ import annotations

import json

import shapely
from shapely.geometry import shape

from gridgis.sample.tiny import tiny_city


def test_geojson_page_matches_read_layer_and_count(repository):
    repository.write_city(tiny_city(), author="seed", message="tiny")
    cases = [
        {"limit": 2},
        {"limit": 2, "offset": 1},
        {"limit": 2, "offset": 40},
        {"bbox": (116.40, 39.90, 116.403, 39.905)},
        {"filters": {"community_code": "110105001002"}},
        {"codes": ["110105001001001"]},
        {"generation": 1, "limit": 3},
    ]
    for kw in cases:
        page = repository.read_geojson_page("grids", **kw)
        if not repository.is_postgis:
            assert page is None
            continue
        rows, matched = page
        frame = repository.read_layer("grids", **kw)
        counted = {k: v for k, v in kw.items() if k not in ("limit", "offset")}
        assert matched == repository.count("grids", **counted), kw
        assert [r["code"] for r in rows] == list(frame["code"]), kw
        for row, geom in zip(rows, frame.geometry, strict=True):
            assert shapely.equals_exact(shape(json.loads(row["geojson"])), geom, tolerance=0), kw
            assert row["version"] == 1
    if repository.is_postgis:
        rows, _ = repository.read_geojson_page("grids", codes=["110105001001001"], latlon=True)
        lon_lat = repository.get_feature("grids", "110105001001001")["geometry"]
        flipped = shapely.transform(shape(json.loads(rows[0]["geojson"])), lambda xy: xy[:, ::-1])
        assert shapely.equals_exact(flipped, lon_lat, tolerance=0)
