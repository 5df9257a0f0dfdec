"""WGS84 ⇄ GCJ-02 ⇄ BD-09 against published pairs, and round trips within 0.01 m."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis import chinacoords as cc
from gridgis.errors import CRSError

M_PER_DEG = 111_320.0


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Small distances in metres (equirectangular; exact enough below a kilometre)."""
    dx = (np.asarray(lon1) - np.asarray(lon2)) * np.cos(np.radians(lat1)) * M_PER_DEG
    dy = (np.asarray(lat1) - np.asarray(lat2)) * M_PER_DEG
    return np.hypot(dx, dy)


# Published pairs: the README and tests of wandergis/coordtransform (the reference JS library
# that most Chinese GIS code follows) for the point 116.404, 39.915 near Tiananmen; the forward
# transforms are closed formulas, so those values must match to ~1e-9 degrees.
def test_wgs84_to_gcj02_matches_the_published_tiananmen_pair():
    lon, lat = cc.wgs84_to_gcj02(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-9)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-9)


def test_gcj02_to_bd09_matches_the_published_tiananmen_pair():
    lon, lat = cc.gcj02_to_bd09(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-9)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-9)


def test_wgs84_to_gcj02_of_the_issue_example():
    lon, lat = cc.wgs84_to_gcj02(116.397128, 39.916527)
    assert float(lon) == pytest.approx(116.40337, abs=1e-5)
    assert float(lat) == pytest.approx(39.91793, abs=1e-5)


def test_inverses_agree_with_the_published_approximations_within_a_decimetre():
    # coordtransform's inverses are one-step approximations (error up to a few metres in
    # general); ours iterate. Near Tiananmen they agree within 0.1 m.
    assert metres(*cc.bd09_to_gcj02(116.404, 39.915), 116.39762729119315, 39.90865673957631) < 0.1
    assert metres(*cc.gcj02_to_wgs84(116.404, 39.915), 116.39775550083061, 39.91359571849836) < 0.1


def test_beijing_railway_station_gcj02_and_bd09_pair():
    # a GCJ-02/BD-09 pair published (to 5 decimals) with the R package 'cst' docs
    lon, lat = cc.gcj02_to_bd09(116.42703, 39.90245)
    assert metres(lon, lat, 116.43351, 39.90851) < 2.0
    lon, lat = cc.bd09_to_gcj02(116.43351, 39.90851)
    assert metres(lon, lat, 116.42703, 39.90245) < 2.0


def test_offsets_are_the_documented_hundreds_of_metres():
    lon, lat = cc.wgs84_to_gcj02(116.4, 39.9)
    assert 100 < float(metres(lon, lat, 116.4, 39.9)) < 700
    lon, lat = cc.wgs84_to_bd09(116.4, 39.9)
    assert 500 < float(metres(lon, lat, 116.4, 39.9)) < 1500


def test_points_outside_china_are_not_shifted():
    lon, lat = cc.wgs84_to_gcj02(2.35, 48.85)
    assert (float(lon), float(lat)) == (2.35, 48.85)
    lon, lat = cc.gcj02_to_wgs84(2.35, 48.85)
    assert (float(lon), float(lat)) == pytest.approx((2.35, 48.85), abs=1e-12)


china_lon = st.floats(min_value=74.0, max_value=134.0, allow_nan=False)
china_lat = st.floats(min_value=4.0, max_value=53.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_within_a_centimetre(lon, lat):
    g = cc.wgs84_to_gcj02(lon, lat)
    back = cc.gcj02_to_wgs84(*g)
    assert float(metres(*back, lon, lat)) < 0.01


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_within_a_centimetre(lon, lat):
    b = cc.wgs84_to_bd09(lon, lat)
    back = cc.bd09_to_wgs84(*b)
    assert float(metres(*back, lon, lat)) < 0.01
    g = cc.gcj02_to_bd09(lon, lat)
    assert float(metres(*cc.bd09_to_gcj02(*g), lon, lat)) < 0.01


def test_convert_points_works_on_arrays_in_every_direction():
    rng = np.random.default_rng(7)
    lon = rng.uniform(100, 125, 500)
    lat = rng.uniform(20, 45, 500)
    for src in cc.SYSTEMS:
        for dst in cc.SYSTEMS:
            x, y = cc.convert_points(lon, lat, src, dst)
            bx, by = cc.convert_points(x, y, dst, src)
            assert x.shape == lon.shape
            assert metres(bx, by, lon, lat).max() < 0.01


def test_geometry_conversion_keeps_topology():
    outer = shapely.box(116.30, 39.90, 116.32, 39.92)
    hole = shapely.box(116.305, 39.905, 116.31, 39.91)
    poly = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    neighbour = shapely.box(116.32, 39.90, 116.34, 39.92)  # shares an edge with ``outer``
    geoms = np.array([poly, neighbour, shapely.Point(116.31, 39.91), None], dtype=object)
    out = cc.convert_geometries(geoms, "wgs84", "bd09")
    assert out[3] is None
    assert [g.geom_type for g in out[:3]] == ["Polygon", "Polygon", "Point"]
    assert len(out[0].interiors) == 1 and out[0].is_valid
    assert shapely.get_num_coordinates(out[0]) == shapely.get_num_coordinates(poly)
    # the shared edge stays shared: same vertices go to the same place
    assert out[0].intersection(out[1]).length > 0 and out[0].intersection(out[1]).area == pytest.approx(0, abs=1e-12)
    assert out[0].touches(out[1])
    back = cc.convert_geometries(out, "bd09", "wgs84")
    assert metres(*shapely.get_coordinates(back[0]).T, *shapely.get_coordinates(poly).T).max() < 0.01


def test_unknown_system_is_a_crs_error():
    with pytest.raises(CRSError, match="unknown coordinate system 'mars2'"):
        cc.convert_points([116.0], [39.0], "mars2", "wgs84")


@pytest.mark.parametrize(("src", "dst"), [("wgs84", "gcj02"), ("gcj02", "wgs84"), ("wgs84", "bd09"), ("bd09", "wgs84")])
def test_a_valid_coverage_stays_a_valid_coverage(src, dst):
    # a 6×6 grid of cells sharing edges and vertices: no gaps or overlaps may appear after conversion
    xs = np.linspace(121.50, 121.53, 7)
    ys = np.linspace(31.22, 31.25, 7)
    cells = np.array([shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(6) for j in range(6)])
    assert shapely.coverage_is_valid(cells)
    out = cc.convert_geometries(cells, src, dst)
    assert shapely.coverage_is_valid(out)
    assert shapely.is_valid(out).all()
    union = shapely.coverage_union_all(out)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
