"""Small layer frames for the io tests: Chinese names, JSON fields, polygons and points."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely


@pytest.fixture
def streets_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": ["110105001000", "110105002000", "110105003000"],
            "name": ["建外街道", "朝外街道", "呼家楼街道"],
            "district": ["朝阳区", "朝阳区", None],
            "households": [12000, 9000, 15000],
            "population": [30000, 21000, 40000],
        },
        geometry=[
            shapely.box(116.430, 39.900, 116.460, 39.915),
            shapely.box(116.430, 39.915, 116.460, 39.930),
            shapely.MultiPolygon(
                [shapely.box(116.460, 39.915, 116.480, 39.930), shapely.box(116.481, 39.915, 116.490, 39.930)]
            ),
        ],
        crs=4326,
    )


@pytest.fixture
def grids_frame() -> gpd.GeoDataFrame:
    hole = shapely.Polygon(
        shapely.box(116.431, 39.901, 116.440, 39.910).exterior.coords,
        [shapely.box(116.433, 39.903, 116.434, 39.904).exterior.coords],
    )
    return gpd.GeoDataFrame(
        {
            "code": ["110105001001001", "110105001001002"],
            "name": ["永安里第一网格", "永安里第二网格"],
            "community_code": ["110105001001", "110105001001"],
            "kind": ["basic", "dedicated"],
            "dedicated_for": [None, "school"],
            "households": [420, 0],
            "population": [1100, 0],
            "workers": [[{"name": "王芳", "role": "full_time", "phone": "010-65000000"}], []],
        },
        geometry=[hole, shapely.box(116.440, 39.901, 116.450, 39.910)],
        crs=4326,
    )


@pytest.fixture
def stations_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": ["110105001001S001", "110105001000S002"],
            "name": ["永安里社区党群服务中心", "建外街道骑手之家"],
            "kind": ["party_mass_centre", "courier_station"],
            "level": ["community", "street"],
            "area_code": ["110105001001", "110105001000"],
            "opening_hours": ["周一至周五 9:00-17:00", None],
            "services": [["帮办代办", "政策咨询"], ["休息", "饮水", "充电"]],
            "contact": ["010-65001234", None],
            "address": ["建国门外永安里8号", None],
        },
        geometry=[shapely.Point(116.446, 39.906), shapely.Point(116.452, 39.908)],
        crs=4326,
    )
