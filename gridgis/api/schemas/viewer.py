"""The web viewer's JSON: start-up metadata, tiles, click-through, search."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from gridgis.api.schemas.common import FeatureCollection, Open


class ViewerLayer(Open):
    name: str
    label: str | None = None


class ViewerMeta(Open):
    generation: int | None = None
    bounds: list[float] | None = None
    layers: list[ViewerLayer]
    roads: bool | None = None  # a road network is configured for the coverage view


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


class WhoAmI(Open):
    """The token's holder and whether it may edit boundaries."""

    name: str
    role: str
    scopes: list[str]
    can_edit: bool


class ImpactIn(Open):
    """``{"changes": <the FeatureCollection a dry run answered>}``."""

    changes: FeatureCollection


class Impact(FeatureCollection):
    """The problems the changes would leave (``properties.new`` for those they bring), and the household range."""

    range: list[int] | None = None


class ProposalIn(Open):
    """The change features of a proposal that the planner accepted."""

    accepted: list[dict[str, Any]]


class ThematicView(Open):
    """One thematic view's layers: ``heat`` (points, count), ``alignment`` (cut_compounds,
    proposed_grids) or ``coverage`` (kind, uncovered, service_areas, table …)."""

    points: list[list[float]] | None = None
    count: int | None = None
    cut_compounds: FeatureCollection | None = None
    proposed_grids: FeatureCollection | None = None
    kind: str | None = None
    uncovered: FeatureCollection | None = None
    service_areas: FeatureCollection | None = None
    table: list[dict[str, Any]] | None = None
    method: str | None = None  # coverage: how distance was measured (roads, and their share of households)
    roads_share: float | None = None  # coverage with roads: share of households inside the roads' extent
