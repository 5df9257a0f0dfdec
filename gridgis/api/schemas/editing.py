"""Editing operations, validation, generations, history, GeoPackage round trips and the audit log."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gridgis.api.schemas.common import Feature, FeatureCollection, GenerationOut, Geometry, Link, Open, ProblemDetail

#: what every ``changes`` collection of the editing routes holds (one vocabulary of changes: ChangeOp)
CHANGES = (
    "one feature per change: properties.layer, properties.op (create, replace or delete, as in OGC API - "
    "Features Part 4 and gridgis.storage.FeatureChange), properties.code and the feature's new fields"
)


class OperationIn(Open):
    """What every operation body may carry besides its own members."""

    dry_run: bool = Field(False, description="check and show the changes without storing them")
    impact: bool = Field(False, description="with dry_run: also answer what POST /viewer/impact would for the changes")
    message: str | None = Field(None, description="why (stored with the generation; or X-Gridgis-Message)")


class MoveBoundaryIn(OperationIn):
    a: str = Field(description="code of the feature whose outline is given")
    b: str = Field(description="code of the neighbour that takes the rest")
    geometry: Geometry = Field(description="the new outline of a (Content-Crs, CRS84 by default)")
    layer: str = "grids"


class TransferCompoundIn(OperationIn):
    compound: str
    to_grid: str


class TransferBuildingsIn(OperationIn):
    buildings: list[str]
    to_grid: str


class SplitGridIn(OperationIn):
    grid: str
    line: Geometry = Field(description="a LineString across the grid (Content-Crs, CRS84 by default)")
    new_code: str | None = None
    new_name: str | None = None


class MergeGridsIn(OperationIn):
    grids: list[str] = Field(min_length=2)
    name: str | None = None


class ApplyProposalIn(OperationIn):
    community: str
    proposal: FeatureCollection


class OperationResult(Open):
    """The changes an operation makes; ``stored`` with the new ``generation``, or a dry run's check."""

    stored: bool
    valid: bool | None = None
    problems: list[ProblemDetail] | None = None
    generation: GenerationOut | None = None
    changes: FeatureCollection = Field(description=CHANGES)
    impact: dict[str, Any] | None = None  # a dry run with "impact": true: /viewer/impact's answer


class ValidateIn(Open):
    """A Feature or a FeatureCollection of one layer (``layer`` names it on ``POST /validate``)."""

    type: str = Field(examples=["FeatureCollection", "Feature"])
    layer: str | None = None
    features: list[Feature] | None = None


class ValidationResult(Open):
    valid: bool
    problems: list[ProblemDetail]
    checked: int


class Generations(Open):
    generations: list[GenerationOut]


class Diff(FeatureCollection):
    """The changed features between two generations (with the buildings and tickets they touch)."""

    generation_a: int | None = None
    generation_b: int | None = None


class RevertResult(Open):
    generation: GenerationOut
    reverted: list[str]


class History(FeatureCollection):
    """Every version of one feature (``id`` = ``code@version``), oldest first."""

    links: list[Link] = Field(default_factory=list)


class ImportResult(Open):
    community: str | None = None
    exported_generation: int | None = None
    changes: FeatureCollection = Field(description=CHANGES)
    problems: list[ProblemDetail]
    stale: Any = None
    valid: bool
    stored: bool
    generation: GenerationOut | None = None


class AuditEntries(Open):
    entries: list[dict[str, Any]]
