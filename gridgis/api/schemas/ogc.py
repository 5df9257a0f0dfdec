"""OGC API – Features documents: landing page, conformance, collections, items, one feature."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gridgis.api.schemas.common import Feature, Geometry, Link, Open


class Landing(Open):
    """The landing page (``/``)."""

    title: str
    description: str | None = None
    links: list[Link]


class Conformance(Open):
    conformsTo: list[str] = Field(description="URIs of the conformance classes the API implements")


class SpatialExtent(Open):
    bbox: list[list[float]]
    crs: str | None = None


class Extent(Open):
    spatial: SpatialExtent | None = None


class Collection(Open):
    """One layer as an OGC collection."""

    id: str = Field(examples=["grids"])
    title: str | None = None
    description: str | None = None
    itemType: str | None = None
    crs: list[str] | None = None
    storageCrs: str | None = None
    extent: Extent | None = None
    links: list[Link]


class Collections(Open):
    links: list[Link]
    collections: list[Collection]


class FeatureProperties(Open):
    """A stored feature's properties: ``code``, ``name``, the layer's fields, and its ``version``."""

    code: str | None = None
    name: str | None = None
    version: int | None = Field(None, description="the version to send back (If-Match or this member) when writing")


class OgcFeature(Feature):
    """One feature as served (``id`` is its code)."""

    id: str | int | None = None
    properties: FeatureProperties | None  # type: ignore[assignment]
    links: list[Link] | None = None


class FeatureItems(Open):
    """A page of features (``/collections/{layer}/items``)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[OgcFeature]
    numberMatched: int | None = None
    numberReturned: int | None = None
    timeStamp: str | None = None
    links: list[Link] = Field(default_factory=list)


class FeatureIn(Open):
    """A feature to create or replace (GeoJSON; coordinates in the ``Content-Crs``, CRS84 by default)."""

    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: Geometry
    properties: dict[str, Any] = Field(
        description="code (required on create), name, the layer's fields and, on replace, the version you edited"
    )


class MergePatch(Open):
    """A JSON merge-patch (RFC 7396) of a feature: members to change; ``null`` removes."""

    geometry: Geometry | None = None
    properties: dict[str, Any] | None = None
