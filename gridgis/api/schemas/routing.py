"""Point routing: one point or address, or a batch."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from gridgis.api.schemas.common import Feature, Open


class Area(Open):
    code: str
    name: str | None = None
    workers: list[Any] | None = None


class PointOut(Open):
    lon: float
    lat: float
    crs: str


class CountyOut(Open):
    """The county whose routing pool answers a point (``GET /route/county``, the front's look-up)."""

    county: str | None = Field(description="6-digit county code; null when the point has no valid coordinates")
    held: bool | None = Field(description="whether this server's routing index holds that county")


class RouteOut(Open):
    """Where a point belongs: one object per level (``null`` where it is in no such area)."""

    point: PointOut
    micro_grid: Area | None = None
    grid: Area | None = None
    community: Area | None = None
    street: Area | None = None
    compound: Area | None = None
    building: Area | None = None
    snapped: bool
    distance_m: float = Field(description="metres to the grid when snapped from outside; 0 inside")
    generation: int | None = None
    input: dict[str, Any] | None = None
    address: dict[str, Any] | None = Field(None, description="the address match, when routed by address")


class RoutePoint(Open):
    lon: float
    lat: float
    id: Any = None


class RouteBatchPoints(Open):
    points: list[RoutePoint | list[float]]


class RouteBatchIn(RootModel[list[RoutePoint | list[float]] | RouteBatchPoints | dict[str, Any]]):
    """A JSON list of points (``{lon, lat, id?}`` or ``[lon, lat]``), ``{"points": [...]}``, or a
    GeoJSON FeatureCollection of points."""


class RoutedRow(Open):
    index: int | None = None
    id: Any = None
    reason: str = Field(description="empty when routed; why not otherwise")


class RouteBatchOut(Open):
    """Per point: the codes of its micro-grid, grid, community and street (or a GeoJSON
    FeatureCollection with them as properties, when one was sent)."""

    generation: int | None = None
    count: int | None = None
    routed: int | None = None
    results: list[RoutedRow] | None = None
    type: str | None = None
    features: list[Feature] | None = None
