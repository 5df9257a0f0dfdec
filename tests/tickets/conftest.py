"""Fixtures of the ticket tests: a tiny two-grid city, an exact router over it, a store per test.

The store runs on a fresh SQLite file per test, and on the storage area's PostGIS test database
(``make_repository("postgis")`` from tests/conftest.py) for the tests marked ``postgis``.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pytest
import shapely

from gridgis.tickets.calendar import SHANGHAI
from gridgis.tickets.dispatch import FrameRouter
from gridgis.tickets.store import TicketStore

#: south-west corner of the tiny city (Chaoyang, Beijing); each micro-grid is 0.002° square
X0, Y0, STEP = 116.400, 39.900, 0.002


def micro_grids() -> gpd.GeoDataFrame:
    """Two grids (…001, …002) side by side, each of two micro-grids stacked north–south."""
    rows = []
    for g in range(2):
        for m in range(2):
            x, y = X0 + g * STEP, Y0 + m * STEP
            rows.append(
                {
                    "code": f"110105001001{g + 1:03d}{m + 1:02d}",
                    "name": f"微网格{g + 1}-{m + 1}",
                    "geometry": shapely.box(x, y, x + STEP, y + STEP),
                }
            )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def point_in(grid: int, micro: int = 1) -> tuple[float, float]:
    """The centre of micro-grid ``micro`` of grid ``grid`` (1-based)."""
    return X0 + (grid - 1) * STEP + STEP / 2, Y0 + (micro - 1) * STEP + STEP / 2


def sh(*args: int) -> datetime:
    """A time in Asia/Shanghai."""
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(scope="session")
def router() -> FrameRouter:
    return FrameRouter(micro_grids(), tolerance_m=30.0)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tickets.db'}"


@pytest.fixture
def store(sqlite_url, router) -> TicketStore:
    return TicketStore(sqlite_url, router=router, create_tables=True)


@pytest.fixture
def pg_store(make_repository, router) -> TicketStore:
    """A store on the storage area's PostGIS test database (schema by the migrations, emptied first)."""
    return TicketStore(make_repository("postgis"), router=router)
