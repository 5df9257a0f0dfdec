"""Mapbox Vector Tiles lie where the features are: decoded tile units map back inside each feature."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
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
