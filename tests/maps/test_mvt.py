"""Mapbox Vector Tiles lie where the features are: decoded tile units map back inside each feature."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from citykit import make_city

from gridgis.maps.tiles import MVT_EXTENT, LayerTiles, tile_bounds, tile_for


def _to_lonlat(tx: float, ty: float, bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    r = 6378137.0
    merc = lambda lon, lat: (r * np.radians(lon), r * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))
    (x0, y0), (x1, y1) = merc(*bounds[:2]), merc(*bounds[2:])
    mx, my = x0 + tx / MVT_EXTENT * (x1 - x0), y0 + ty / MVT_EXTENT * (y1 - y0)
    return float(np.degrees(mx / r)), float(np.degrees(2 * np.arctan(np.exp(my / r)) - np.pi / 2))


def test_an_mvt_feature_decodes_inside_its_own_geometry():
    city = make_city()
    layer = LayerTiles.from_frame("micro_grids", city["micro_grids"])
    x, y = tile_for(121.505, 31.232, 15)
    data, n = layer.mvt(15, x, y)
    features = mapbox_vector_tile.decode(data)["micro_grids"]["features"]
    assert len(features) == n > 0
    shapes = city["micro_grids"].set_index("code").geometry
    for f in features:
        point = shapely.geometry.shape(f["geometry"]).representative_point()
        lon, lat = _to_lonlat(point.x, point.y, tile_bounds(15, x, y))
        assert shapes[f["properties"]["code"]].buffer(1e-6).contains(shapely.Point(lon, lat)), f["properties"]["code"]


def test_an_mvt_tile_below_the_layers_zoom_is_empty_but_valid():
    city = make_city()
    data, n = LayerTiles.from_frame("micro_grids", city["micro_grids"]).mvt(10, *tile_for(121.505, 31.232, 10))
    assert n == 0 and mapbox_vector_tile.decode(data).get("micro_grids", {"features": []})["features"] == []


def _mvt_shapes(data: bytes, layer: str, bounds: tuple[float, float, float, float]) -> dict[str, shapely.Geometry]:
    """The features of an MVT tile by code, their tile units mapped back to lon/lat."""
    out = {}
    for f in mapbox_vector_tile.decode(data).get(layer, {"features": []})["features"]:
        units = shapely.geometry.shape(f["geometry"])
        out[f["properties"]["code"]] = shapely.transform(
            units, lambda xy: np.array([_to_lonlat(tx, ty, bounds) for tx, ty in xy]).reshape(-1, 2)
        )
    return out


@pytest.mark.parametrize(
    ("layer", "z"),
    [("micro_grids", 15), ("micro_grids", 17), ("grids", 13), ("grids", 16), ("compounds", 16), ("stations", 16)],
)
def test_an_mvt_tile_holds_the_geojson_tiles_features_clipped_to_the_tile(layer, z):
    city = make_city()
    tiles = LayerTiles.from_frame(layer, city[layer])
    x, y = tile_for(121.505, 31.232, z)
    bounds = tile_bounds(z, x, y)
    geojson = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in _features(tiles, z, x, y)}
    data, n = tiles.mvt(z, x, y)
    got = _mvt_shapes(data, layer, bounds)
    assert set(got) == set(geojson) and n == len(got) > 0
    px, py = (bounds[2] - bounds[0]) * 8 / 256, (bounds[3] - bounds[1]) * 8 / 256  # 8 of 256 px each way
    box = shapely.box(bounds[0] - px, bounds[1] - py, bounds[2] + px, bounds[3] + py)
    unit = (bounds[2] - bounds[0]) / MVT_EXTENT  # one grid unit, in degrees of longitude
    for code, shape in got.items():
        expected = shapely.make_valid(shapely.clip_by_rect(geojson[code], *box.bounds))
        if expected.is_empty:  # touches the buffer only at a point: sent whole
            expected = geojson[code]
        assert shapely.hausdorff_distance(shapely.make_valid(shape), expected) <= 2 * unit, code


def _features(tiles: LayerTiles, z: int, x: int, y: int) -> list[dict]:
    import json

    return json.loads(tiles.tile(z, x, y)[0])["features"]


def test_the_encoder_winds_exterior_rings_clockwise_and_holes_counter_clockwise_in_tile_units():
    from gridgis.maps import mvt

    x, y = tile_for(121.505, 31.232, 16)
    b = tile_bounds(16, x, y)
    w, h = b[2] - b[0], b[3] - b[1]
    outer = shapely.box(b[0] + w * 0.1, b[1] + h * 0.1, b[0] + w * 0.9, b[1] + h * 0.9)
    hole = shapely.box(b[0] + w * 0.4, b[1] + h * 0.4, b[0] + w * 0.6, b[1] + h * 0.6)
    for ring in (outer, shapely.Polygon(outer.exterior.coords[::-1])):  # either input winding
        data, _ = mvt.encode("t", [shapely.Polygon(ring.exterior.coords, [hole.exterior.coords])], [{"code": "a"}], b)
        decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["t"]["features"][0]
        rings = decoded["geometry"]["coordinates"]
        signed = [shapely.LinearRing(r).is_ccw for r in rings]
        # y down: the specification's positive (clockwise on screen) exterior is counter-clockwise in maths axes
        assert signed == [True, False]
        assert shapely.Polygon(rings[0], rings[1:]).area == pytest.approx(
            0.8 * 0.8 * 4096**2 - 0.2 * 0.2 * 4096**2, rel=0.01
        )


def test_a_polygon_smaller_than_a_grid_unit_is_left_out_of_the_tile_and_the_count():
    from gridgis.maps import mvt

    b = tile_bounds(2, 3, 1)
    tiny = shapely.box(121.5, 31.2, 121.5001, 31.2001)  # 10 m at zoom 2: far below one unit
    big = shapely.box(b[0] + 1, b[1] + 1, b[0] + 20, b[1] + 20)
    data, n = mvt.encode("t", [tiny, big], [{"code": "tiny"}, {"code": "big"}], b)
    assert n == 1 and [f["properties"]["code"] for f in mapbox_vector_tile.decode(data)["t"]["features"]] == ["big"]
