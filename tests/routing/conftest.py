"""Fixtures of the routing tests: a synthetic jittered city and a hand-made two-grid city for ties."""

from __future__ import annotations

import contextlib

import geopandas as gpd
import pytest
import shapely

from gridgis.routing import RoutingIndex
from gridgis.sample.lattice import synthetic_city

GRID_A = "310115001001001"
GRID_B = "310115001001002"
X0, X1, X2 = 121.500, 121.501, 121.502
Y0, YM, Y1 = 31.200, 31.2005, 31.201


@pytest.fixture(scope="session")
def city():
    return synthetic_city(6, 6, micro=2)


@pytest.fixture(scope="session")
def index(city):
    return RoutingIndex.build(city, generation=1)


def _frame(rows):
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def two_grid_city(compound_box=(121.5008, 31.2002, 121.5016, 31.2006)) -> dict[str, gpd.GeoDataFrame]:
    """Grids A (west, lower code) and B (east) share the meridian x = 121.501; each has a north
    micro-grid (01) and a south one (02) split at y = 31.2005; one compound straddles the shared edge
    with most of its area in B."""
    grids = _frame(
        [
            {
                "code": GRID_A,
                "name": "甲网格",
                "community_code": GRID_A[:12],
                "workers": [{"name": "张三", "role": "full_time"}],
                "geometry": shapely.box(X0, Y0, X1, Y1),
            },
            {
                "code": GRID_B,
                "name": "乙网格",
                "community_code": GRID_B[:12],
                "workers": [{"name": "李四", "role": "full_time"}],
                "geometry": shapely.box(X1, Y0, X2, Y1),
            },
        ]
    )
    micro = _frame(
        [
            {"code": GRID_A + "01", "name": "甲北", "grid_code": GRID_A, "geometry": shapely.box(X0, YM, X1, Y1)},
            {"code": GRID_A + "02", "name": "甲南", "grid_code": GRID_A, "geometry": shapely.box(X0, Y0, X1, YM)},
            {"code": GRID_B + "01", "name": "乙北", "grid_code": GRID_B, "geometry": shapely.box(X1, YM, X2, Y1)},
            {"code": GRID_B + "02", "name": "乙南", "grid_code": GRID_B, "geometry": shapely.box(X1, Y0, X2, YM)},
        ]
    )
    compounds = _frame(
        [
            {
                "code": GRID_A[:12] + "Q001",
                "name": "梅园三街坊",
                "community_code": GRID_A[:12],
                "kind": "aging",
                "geometry": shapely.box(*compound_box),
            }
        ]
    )
    buildings = _frame(
        [
            {
                "code": GRID_A[:12] + "Q001B012",
                "name": "梅园三街坊12号楼",
                "number": "12号楼",
                "compound_code": GRID_A[:12] + "Q001",
                "community_code": GRID_A[:12],
                "geometry": shapely.box(121.5009, 31.2003, 121.5011, 31.2004),
            }
        ]
    )
    communities = _frame(
        [
            {
                "code": GRID_A[:12],
                "name": "梅园社区",
                "street_code": GRID_A[:9] + "000",
                "geometry": shapely.box(X0, Y0, X2, Y1),
            }
        ]
    )
    streets = _frame([{"code": GRID_A[:9] + "000", "name": "潍坊新村街道", "geometry": shapely.box(X0, Y0, X2, Y1)}])
    return {
        "grids": grids,
        "micro_grids": micro,
        "compounds": compounds,
        "buildings": buildings,
        "communities": communities,
        "streets": streets,
    }


@pytest.fixture(scope="session")
def two_grids():
    return two_grid_city()


@pytest.fixture(scope="session")
def two_grid_index(two_grids):
    return RoutingIndex.build(two_grids, generation=7)


@contextlib.contextmanager
def live_api(repository, **overrides):
    """The real app (gridgis.api.create_app) served by uvicorn on a free localhost port; yields the base URL."""

    from gridgis.api import create_app
    from gridgis.settings import get_settings

    settings = get_settings(database_url=repository.url, **overrides)
    app = create_app(settings, repository)
    from tests.live import LiveServer

    with LiveServer(app) as server:
        yield server.url
