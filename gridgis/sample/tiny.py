"""A tiny deterministic city (one street, two communities, four grids) for docstrings, demos and tests.

Near Beijing's Dongcheng (116.40°E, 39.90°N), EPSG:4326. Grids fill their communities
exactly, communities fill the street, compounds and buildings sit inside their grids.
"""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point, box

from gridgis.codes import child_code
from gridgis.crs import STORAGE_CRS
from gridgis.layers import get_spec, normalize_frame

STREET = "110105001000"
COMMUNITY_A = "110105001001"
COMMUNITY_B = "110105001002"
S, N = 39.900, 39.910


def _frame(layer: str, rows: list[dict]) -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    return normalize_frame(get_spec(layer), gpd.GeoDataFrame(rows, geometry=geoms, crs=STORAGE_CRS))


def tiny_city() -> dict[str, gpd.GeoDataFrame]:
    """The example city as layer frames.

    >>> city = tiny_city()
    >>> sorted(city)[:3], len(city["grids"])
    (['buildings', 'communities', 'compounds'], 4)
    """
    streets = _frame(
        "streets",
        [
            {
                "code": STREET,
                "name": "东华门街道",
                "district": "东城区",
                "households": 1600,
                "geometry": box(116.400, S, 116.420, N),
            }
        ],
    )
    communities = _frame(
        "communities",
        [
            {
                "code": COMMUNITY_A,
                "name": "多福巷社区",
                "street_code": STREET,
                "households": 800,
                "geometry": box(116.400, S, 116.410, N),
            },
            {
                "code": COMMUNITY_B,
                "name": "银闸社区",
                "street_code": STREET,
                "households": 800,
                "geometry": box(116.410, S, 116.420, N),
            },
        ],
    )
    grids = _frame(
        "grids",
        [
            {
                "code": COMMUNITY_A + "001",
                "name": "多福巷第一网格",
                "community_code": COMMUNITY_A,
                "households": 400,
                "geometry": box(116.400, S, 116.405, N),
            },
            {
                "code": COMMUNITY_A + "002",
                "name": "多福巷第二网格",
                "community_code": COMMUNITY_A,
                "households": 400,
                "geometry": box(116.405, S, 116.410, N),
            },
            {
                "code": COMMUNITY_B + "001",
                "name": "银闸第一网格",
                "community_code": COMMUNITY_B,
                "households": 400,
                "geometry": box(116.410, S, 116.415, N),
            },
            {
                "code": COMMUNITY_B + "002",
                "name": "银闸第二网格",
                "community_code": COMMUNITY_B,
                "households": 400,
                "geometry": box(116.415, S, 116.420, N),
            },
        ],
    )
    micro_grids = _frame(
        "micro_grids",
        [
            {
                "code": COMMUNITY_A + "00101",
                "name": "一网格一微格",
                "grid_code": COMMUNITY_A + "001",
                "households": 200,
                "geometry": box(116.400, S, 116.405, 39.905),
            },
            {
                "code": COMMUNITY_A + "00102",
                "name": "一网格二微格",
                "grid_code": COMMUNITY_A + "001",
                "households": 200,
                "geometry": box(116.400, 39.905, 116.405, N),
            },
        ],
    )
    compounds = _frame(
        "compounds",
        [
            {
                "code": COMMUNITY_A + "Q001",
                "name": "福祥小区",
                "community_code": COMMUNITY_A,
                "kind": "residential",
                "households": 120,
                "geometry": box(116.401, 39.902, 116.4035, 39.905),
            },
            {
                "code": COMMUNITY_A + "Q002",
                "name": "东四北小区",
                "community_code": COMMUNITY_A,
                "kind": "aging",
                "households": 150,
                "geometry": box(116.405, 39.902, 116.4085, 39.906),
            },
            {
                "code": COMMUNITY_B + "Q001",
                "name": "银闸小区",
                "community_code": COMMUNITY_B,
                "kind": "work_unit",
                "households": 90,
                "geometry": box(116.411, 39.903, 116.414, 39.906),
            },
        ],
    )
    buildings = _frame(
        "buildings",
        [
            {
                "code": COMMUNITY_A + "Q001B001",
                "name": "1号楼",
                "compound_code": COMMUNITY_A + "Q001",
                "community_code": COMMUNITY_A,
                "households": 60,
                "geometry": box(116.4015, 39.9025, 116.402, 39.9035),
            },
            {
                "code": COMMUNITY_A + "Q001B002",
                "name": "2号楼",
                "compound_code": COMMUNITY_A + "Q001",
                "community_code": COMMUNITY_A,
                "households": 60,
                "geometry": box(116.4025, 39.9025, 116.403, 39.9035),
            },
            {
                "code": COMMUNITY_A + "Q002B001",
                "name": "1号楼",
                "compound_code": COMMUNITY_A + "Q002",
                "community_code": COMMUNITY_A,
                "households": 150,
                "geometry": box(116.406, 39.903, 116.407, 39.904),
            },
        ],
    )
    stations = _frame(
        "stations",
        [
            {
                "code": COMMUNITY_A + "S001",
                "name": "多福巷党群服务中心",
                "kind": "party_mass_centre",
                "level": "community",
                "area_code": COMMUNITY_A,
                "geometry": Point(116.404, 39.907),
            },
            {
                "code": child_code(STREET, "stations", 1),
                "name": "东华门街道党群服务中心",
                "kind": "party_mass_centre",
                "level": "street",
                "area_code": STREET,
                "geometry": Point(116.412, 39.901),
            },
        ],
    )
    return {
        "streets": streets,
        "communities": communities,
        "compounds": compounds,
        "buildings": buildings,
        "grids": grids,
        "micro_grids": micro_grids,
        "stations": stations,
    }
