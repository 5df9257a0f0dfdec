"""Storage CRS, parse_crs, conversion to storage, and the metric (Gauss-Krüger) CRS choice."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridgis import chinacoords
from gridgis.crs import (
    CHINA_BOUNDS,
    ensure_storage_crs,
    gauss_kruger_epsg,
    is_storage_crs,
    metric_crs_for,
    parse_crs,
    points_to_storage,
    storage_to,
    to_metric,
    to_storage,
)
from gridgis.errors import CRSError, OutOfAreaError


@pytest.mark.parametrize(
    ("text", "china"),
    [
        ("wgs84", "wgs84"),
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("cgcs2000", "wgs84"),
        ("EPSG:4490", "wgs84"),
        ("4490", "wgs84"),
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("amap", "gcj02"),
        ("bd09", "bd09"),
        ("baidu", "bd09"),
        ("OGC:CRS84", "wgs84"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "wgs84"),
        ("urn:ogc:def:crs:EPSG::4490", "wgs84"),
        ("+proj=longlat +datum=WGS84 +no_defs", "wgs84"),
    ],
)
def test_parse_crs_accepts_the_documented_names(text, china):
    assert parse_crs(text).china == china


def test_parse_crs_reads_projected_epsg_codes():
    assert parse_crs("EPSG:4549").epsg == 4549
    assert parse_crs(4548).epsg == 4548
    assert parse_crs("EPSG:4549").label == "EPSG:4549"


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_parse_crs_refuses_to_guess_when_nothing_is_given(missing):
    with pytest.raises(CRSError, match="no CRS given"):
        parse_crs(missing)


@pytest.mark.parametrize("bad", ["not-a-crs", "EPSG:999999", "gcj03"])
def test_parse_crs_rejects_unknown_names(bad):
    with pytest.raises(CRSError, match="unknown CRS"):
        parse_crs(bad)


def test_cgcs2000_is_the_storage_crs_relabelled_not_shifted():
    f = gpd.GeoDataFrame(geometry=[shapely.Point(116.4, 39.9)], crs="EPSG:4490")
    assert is_storage_crs(f.crs)
    out = ensure_storage_crs(f)
    assert out.crs.to_epsg() == 4326
    assert out.geometry[0].equals(f.geometry[0])


def test_ensure_storage_crs_refuses_missing_and_projected_crs():
    f = gpd.GeoDataFrame(geometry=[shapely.Point(116.4, 39.9)])
    with pytest.raises(CRSError, match="no CRS"):
        ensure_storage_crs(f)
    with pytest.raises(CRSError, match="expected EPSG:4326"):
        ensure_storage_crs(f.set_crs(4548))


def test_to_storage_converts_gcj02_and_bd09_frames():
    wgs = shapely.Point(116.397128, 39.916527)
    gcj = shapely.Point(*[float(v) for v in chinacoords.wgs84_to_gcj02(wgs.x, wgs.y)])
    bd = shapely.Point(*[float(v) for v in chinacoords.wgs84_to_bd09(wgs.x, wgs.y)])
    for geom, src in ((gcj, "gcj02"), (bd, "bd09")):
        out = to_storage(gpd.GeoDataFrame(geometry=[geom]), src)
        assert out.crs.to_epsg() == 4326
        assert out.geometry[0].distance(wgs) < 1e-7  # ~1 cm


def test_to_storage_reprojects_a_gauss_kruger_frame():
    x, y = storage_to([116.4], [39.9], "EPSG:4548")
    f = gpd.GeoDataFrame(geometry=[shapely.Point(x[0], y[0])], crs="EPSG:4548")
    out = to_storage(f, "EPSG:4548")
    assert out.geometry[0].x == pytest.approx(116.4, abs=1e-9)
    assert out.geometry[0].y == pytest.approx(39.9, abs=1e-9)


def test_to_storage_refuses_a_crs_that_disagrees_with_the_frame():
    f = gpd.GeoDataFrame(geometry=[shapely.Point(500000, 4400000)], crs="EPSG:4548")
    with pytest.raises(CRSError, match="EPSG:4549 was given"):
        to_storage(f, "EPSG:4549")
    with pytest.raises(CRSError, match="gcj02 lon/lat was given"):
        to_storage(f, "gcj02")


def test_points_to_storage_and_back():
    lon, lat = storage_to(np.array([121.5, 116.4]), np.array([31.2, 39.9]), "bd09")
    back_lon, back_lat = points_to_storage(lon, lat, "bd09")
    assert np.allclose(back_lon, [121.5, 116.4], atol=1e-7) and np.allclose(back_lat, [31.2, 39.9], atol=1e-7)


@pytest.mark.parametrize(
    ("lon", "epsg", "cm"),
    [
        (116.4, 4548, 117),
        (121.5, 4549, 120),
        (113.9, 4547, 114),
        (75.0, 4534, 75),
        (135.0, 4554, 135),
        (87.6, 4538, 87),
        (118.49, 4548, 117),
        (118.51, 4549, 120),
    ],
)
def test_gauss_kruger_zone_is_the_nearest_central_meridian(lon, epsg, cm):
    import pyproj

    assert gauss_kruger_epsg(lon) == epsg
    assert f"CM {cm}E" in pyproj.CRS.from_epsg(epsg).name


def test_gauss_kruger_refuses_longitudes_outside_china():
    with pytest.raises(OutOfAreaError):
        gauss_kruger_epsg(2.35)
    with pytest.raises(OutOfAreaError):
        gauss_kruger_epsg(float("nan"))


def test_metric_crs_gives_true_areas():
    # a 0.01° square at 39.9°N is about 1,113 m × 853 m
    f = gpd.GeoDataFrame(geometry=[shapely.box(116.40, 39.90, 116.41, 39.91)], crs=4326)
    assert metric_crs_for(f) == "EPSG:4548"
    area = to_metric(f).geometry.area[0]
    assert area == pytest.approx(1113.2 * 853.6, rel=0.01)


def test_metric_crs_refuses_projected_or_empty_data():
    with pytest.raises(CRSError):
        metric_crs_for(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs=4548))
    with pytest.raises(CRSError, match="empty"):
        metric_crs_for(gpd.GeoDataFrame(geometry=[], crs=4326))


def test_china_bounds_hold_the_extreme_cities():
    minx, miny, maxx, maxy = CHINA_BOUNDS
    for lon, lat in ((75.99, 39.47), (126.63, 45.75), (109.51, 18.25), (131.0, 47.0)):  # Kashgar, Harbin, Sanya
        assert minx <= lon <= maxx and miny <= lat <= maxy
