"""The web viewer's JSON: start-up metadata, tiles, click-through, search."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from gridgis.api.schemas.common import Open


class ViewerLayer(Open):
    name: str
    label: str | None = None


class ViewerMeta(Open):
    generation: int | None = None
    bounds: list[float] | None = None
    layers: list[ViewerLayer]


class Tile(Open):
    """A GeoJSON FeatureCollection of one tile (``application/geo+json``)."""

    type: str
    features: list[Any]


class Related(Open):
    """The compounds (overlapping the grid) and stations (inside it) as ``[code, name]`` rows."""

    compounds: list[list[str | None]]
    stations: list[list[str | None]]


class Located(Open):
    layer: str
    code: str
    name: str | None = None
    bbox: list[float]


class SearchHit(Open):
    layer: str | None = None
    code: str | None = None
    name: str | None = None


class SearchHits(RootModel[list[SearchHit]]):
    """Features whose name or code contains ``q``, stations and areas first."""
