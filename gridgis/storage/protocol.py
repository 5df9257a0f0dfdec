"""The storage contract the API and the services rely on, as a typed :class:`Repository` protocol.

:class:`gridgis.storage.repository.Repository` (SQLite or PostGIS) implements it; the API's
``RepositoryDep`` is typed with it, so mypy checks every router's use of the store and a test
double only needs these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import geopandas as gpd
import sqlalchemy as sa

from gridgis.storage.model import BBox, FeatureChange, Generation


@runtime_checkable
class Repository(Protocol):
    """What a boundary store offers: versioned reads, one-transaction writes, generations.

    >>> import os, tempfile
    >>> from gridgis.storage.repository import Repository as SqlRepository
    >>> repo = SqlRepository("sqlite:///" + os.path.join(tempfile.mkdtemp(), "g.db"))
    >>> isinstance(repo, Repository)
    True
    >>> repo.dispose()
    """

    url: str
    engine: sa.Engine

    @property
    def is_postgis(self) -> bool: ...

    def ping(self) -> bool: ...

    def check_schema(self) -> str: ...

    def dispose(self) -> None: ...

    def generations(self) -> list[Generation]: ...

    def current_generation(self) -> Generation | None: ...

    def generation(self, generation_id: int) -> Generation: ...

    def read_layer(
        self,
        layer: str,
        generation: int | None = None,
        at: datetime | None = None,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filters: Mapping[str, Any] | None = None,
        code_prefixes: Iterable[str] | None = None,
    ) -> gpd.GeoDataFrame: ...

    def read_city(self, generation: int | None = None, at: datetime | None = None) -> dict[str, gpd.GeoDataFrame]: ...

    def count(
        self,
        layer: str,
        generation: int | None = None,
        at: datetime | None = None,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        code_prefixes: Iterable[str] | None = None,
    ) -> int: ...

    def get_feature(self, layer: str, code: str, generation: int | None = None) -> dict[str, Any]: ...

    def counts(self, generation: int | None = None) -> dict[str, int]: ...

    def apply_changes(
        self,
        changes: Iterable[FeatureChange],
        author: str,
        message: str = "",
        check: Callable[[Any], None] | None = None,
    ) -> Generation: ...

    def feature_history(self, layer: str, code: str) -> list[dict[str, Any]]: ...

    def diff(self, gen_a: int, gen_b: int, layer: str | None = None) -> gpd.GeoDataFrame: ...

    def revert_to(self, generation: int, author: str, message: str = "") -> Generation: ...

    def on_new_generation(self, callback: Callable[[Generation], None]) -> Callable[[Generation], None]: ...
