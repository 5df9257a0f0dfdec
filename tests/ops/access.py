"""A PostGIS store with the sample city served live twice (public reads on and off), with one real
token per role and scope created through gridgis's token store: the fixture of the access tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "geojson"
STREET_A, STREET_B = "310115004000", "310115005000"

#: holder -> (role, scopes)
TOKENS: dict[str, tuple[str, list[str]]] = {
    "王管理": ("admin", ["*"]),
    "李网格": ("worker", [STREET_A]),
    "赵网格": ("worker", [STREET_B]),
    "钱规划": ("planner", [STREET_A]),
    "吴规划": ("planner", [STREET_B]),
    "孙上报": ("reporter", []),
    "周查看": ("viewer", []),
}


@dataclass
class Site:
    base: str  # public reads on
    closed: str  # the same store, public reads off
    tokens: dict[str, str]
    repo: Any
    city: dict[str, gpd.GeoDataFrame]
    url: str
    extra: dict[str, Any] = field(default_factory=dict)

    def auth(self, holder: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[holder]}"}

    def point_in(self, area: str, i: int = 0) -> dict[str, float | str]:
        """A point inside the ``i``-th micro-grid of a street (``…000``), community or grid."""
        micro = self.city["micro_grids"]
        prefix = area[:9] if len(area) == 12 and area.endswith("000") else area
        rows = micro[micro["code"].str.startswith(prefix)]
        p = rows.geometry.iloc[i].representative_point()
        return {"lon": p.x, "lat": p.y, "code": rows["code"].iloc[i]}


@contextmanager
def access_site(prefix: str = "gridgis_sec") -> Iterator[Site]:
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.editing.testing import live_api
    from gridgis.io import read_city
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from gridgis.storage.testing import temporary_postgis_database, test_postgis_url

    city = {k: v for k, v in read_city(SAMPLE).items() if k != "tickets"}
    with temporary_postgis_database(test_postgis_url(), prefix=prefix) as url:
        repo = Repository(url)
        repo.create_schema()
        repo.write_city(city, author="tests", message="sample city")
        ensure_tables(repo.engine)
        store = TokenStore(repo.engine)
        tokens = {name: store.create(name, role, scopes)[0] for name, (role, scopes) in TOKENS.items()}
        closed_repo = Repository(url)
        try:
            with (
                live_api(repo, get_settings(database_url=url)) as base,
                live_api(closed_repo, get_settings(database_url=url, public_reads=False)) as closed,
            ):
                yield Site(base, closed, tokens, repo, city, url)
        finally:
            closed_repo.dispose()
            repo.dispose()
