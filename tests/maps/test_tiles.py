"""Viewer tiles: tile maths, topology-preserving simplification per zoom, cache per generation."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from citykit import make_city
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.errors import NotFoundError, ValidationError
from gridgis.maps.tiles import LayerTiles, TileCache, simplify_layer, tile_bounds, tile_for, tolerance_deg


def wiggly_coverage(n: int = 6, seed: int = 0) -> np.ndarray:
    """An n × n coverage of cells whose shared edges are wiggly lines with many vertices."""
    rng = np.random.default_rng(seed)
    x0, y0, step = 121.50, 31.22, 0.002
    xs = np.linspace(0, 1, 40)
    # shared vertical and horizontal wiggly lines
    v = [
        [(x0 + i * step + (0 if i in (0, n) else rng.normal(0, step / 40)), y0 + t * n * step) for t in xs]
        for i in range(n + 1)
    ]
    lines = shapely.union_all(
        [shapely.LineString(c) for c in v]
        + [
            shapely.LineString(
                [(x0 + t * n * step, y0 + j * step + (0 if j in (0, n) else 0.00003 * np.sin(t * 60))) for t in xs]
            )
            for j in range(n + 1)
        ]
    )
    return np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.node(lines)))), dtype=object)


def test_tile_maths_round_trips():
    x, y = tile_for(121.505, 31.232, 15)
    minx, miny, maxx, maxy = tile_bounds(15, x, y)
    assert minx <= 121.505 < maxx and miny <= 31.232 < maxy
    with pytest.raises(ValidationError):
        tile_bounds(3, 8, 0)


@settings(max_examples=8, deadline=None)
@given(z=st.integers(min_value=10, max_value=16), seed=st.integers(0, 1000))
def test_simplified_grids_stay_a_valid_coverage_with_shared_edges(z, seed):
    cells = wiggly_coverage(seed=seed)
    assert shapely.coverage_is_valid(cells)
    simple = simplify_layer("grids", cells, z)
    assert shapely.coverage_is_valid(simple)  # no gaps, no overlaps between neighbours
    assert shapely.get_num_coordinates(simple).sum() <= shapely.get_num_coordinates(cells).sum()
    whole = shapely.area(shapely.union_all(cells))
    assert abs(shapely.area(shapely.union_all(simple)) - whole) / whole < 0.01


def test_low_zoom_sends_fewer_vertices_and_every_zoom_stays_within_a_fraction_of_a_pixel():
    cells = wiggly_coverage()
    assert (
        shapely.get_num_coordinates(simplify_layer("micro_grids", cells, 12)).sum()
        < shapely.get_num_coordinates(cells).sum() / 2
    )
    for z in (16, 18, 20):  # simplified at the high zooms too, never further than the tolerance
        simple = simplify_layer("micro_grids", cells, z)
        assert shapely.get_num_coordinates(simple).sum() <= shapely.get_num_coordinates(cells).sum()
        assert max(shapely.hausdorff_distance(simple, cells)) <= tolerance_deg(z) * 1.001


def test_a_tile_holds_the_features_that_touch_it_whole():
    city = make_city()
    tiles = LayerTiles.from_frame("grids", city["grids"])
    x, y = tile_for(121.5021, 31.2334, 17)
    text, n = tiles.tile(17, x, y)
    fc = json.loads(text)
    assert n == len(fc["features"]) >= 1
    got = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in fc["features"]}
    originals = city["grids"].set_index("code").geometry
    for code, geom in got.items():  # not clipped to the tile: whole, within the zoom's tolerance
        assert shapely.hausdorff_distance(geom, originals[code]) <= tolerance_deg(17) + 1e-6
    far_x, far_y = tile_for(121.0, 31.0, 17)
    assert tiles.tile(17, far_x, far_y)[1] == 0


def test_layers_below_their_minimum_zoom_send_empty_tiles():
    city = make_city()
    tiles = LayerTiles.from_frame("buildings", city["buildings"])
    x, y = tile_for(121.505, 31.232, 12)
    assert tiles.tile(12, x, y)[1] == 0


def test_the_cache_reloads_a_layer_for_a_new_generation_only():
    city = make_city()
    loads = []

    def load(layer):
        loads.append(layer)
        return city[layer]

    cache = TileCache()
    a = cache.layer(1, "grids", load)
    assert cache.layer(1, "grids", load) is a and loads == ["grids"]
    b = cache.layer(2, "grids", load)
    assert b is not a and loads == ["grids", "grids"]
    with pytest.raises(NotFoundError):
        cache.layer(2, "roads", load)


def test_point_layers_are_never_simplified():
    pts = np.asarray(shapely.points(np.random.default_rng(1).random((10, 2))), dtype=object)
    assert simplify_layer("stations", pts, 10) is pts
    frame = gpd.GeoDataFrame({"code": [str(i) for i in range(10)], "name": ["x"] * 10}, geometry=pts, crs=4326)
    assert LayerTiles.from_frame("stations", frame).zoom(10)[0][0].startswith('{"type":"Point"')


def test_a_big_tile_simplified_for_a_finer_zoom_holds_what_its_small_tiles_hold():
    city = make_city()
    tiles = LayerTiles.from_frame("micro_grids", city["micro_grids"])
    x, y = tile_for(121.505, 31.232, 13)
    big = {f["id"] for f in json.loads(tiles.tile(13, x, y, zoom=15)[0])["features"]}
    small = set()
    for dx in range(4):
        for dy in range(4):
            small |= {f["id"] for f in json.loads(tiles.tile(15, 4 * x + dx, 4 * y + dy)[0])["features"]}
    assert big == small and big <= set(city["micro_grids"]["code"]) and len(big) >= 4
    assert tiles.tile(13, x, y, zoom=13)[1] == 0  # micro-grids start at zoom 14
    with pytest.raises(ValidationError):
        tiles.tile(15, 4 * x, 4 * y, zoom=13)


def test_tiles_for_amap_are_shifted_to_gcj02_and_found_in_the_shifted_grid():
    from gridgis.chinacoords import wgs84_to_gcj02

    city = make_city()
    tiles = LayerTiles.from_frame("stations", city["stations"])
    p = city["stations"].geometry.iloc[0]
    glon, glat = (float(v) for v in wgs84_to_gcj02(p.x, p.y))
    x, y = tile_for(glon, glat, 17)
    fc = json.loads(tiles.tile(17, x, y, system="gcj02")[0])
    got = {f["id"]: f["geometry"]["coordinates"] for f in fc["features"]}
    code = city["stations"]["code"].iloc[0]
    assert got[code] == pytest.approx([glon, glat], abs=1e-5)  # 5 decimals ≈ 1 m up to zoom 16
    assert abs(glon - p.x) * 95_000 > 100  # hundreds of metres away from the WGS84 point


def test_base_maps_are_described_for_both_saved_maps_and_the_viewer():
    from gridgis.maps.basemaps import overlay_system, tile_sources

    assert tile_sources("none") == []
    assert [s.overlay for s in tile_sources("tianditu", "KEY")] == [False, True]
    with pytest.raises(ValidationError):
        tile_sources("tianditu")
    with pytest.raises(ValidationError):
        tile_sources("bing")
    assert overlay_system("amap") == "gcj02" and overlay_system("osm") == "wgs84"
