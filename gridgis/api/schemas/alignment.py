"""Grid alignment: analysis, proposals, applying them, party structure, micro-grid splits."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gridgis.api.schemas.common import FeatureCollection, Open


class AlignmentAnalysis(Open):
    community_code: str
    compounds: int | None = None
    clusters: int | None = None
    cases: dict[str, Any] | None = None
    cut_compound_list: list[Any] | None = None
    coverage: dict[str, Any] | None = None


class AlignmentSettings(Open):
    """Alignment settings: any member of :class:`gridgis.alignment.config.AlignmentConfig`; each one
    left out keeps its default there (the defaults live in that one place)."""

    household_min: int | None = None
    household_max: int | None = None
    large_compound_households: int | None = None
    sliver_share: float | None = None
    minor_share: float | None = None
    rebalance: bool | None = None
    split_merge: bool | None = None
    max_moves: int | None = None
    microgrid_min: int | None = None
    microgrid_max: int | None = None


class ApplyIn(AlignmentSettings):
    author: str = Field(description="who applies the proposal")
    message: str | None = None
    commit: bool = Field(False, description="store the proposal; false is a dry run")


class Proposal(Open):
    community_code: str
    grids: FeatureCollection
    changes: FeatureCollection
    report: dict[str, Any]
    #: the road import open land was divided along (gridgis.storage.roads), null when the store holds none
    roads: dict[str, Any] | None = None


class ApplyResult(Open):
    community_code: str
    dry_run: bool
    changes: Any = None
    generation: dict[str, Any] | None = None
    notes: Any = None


class PartyStructure(Open):
    community_code: str
    tree: dict[str, Any] | None = None
    rows: list[dict[str, Any]] | None = None


class MicroGridSplit(Open):
    grid_code: str
    micro_grids: FeatureCollection
    explanations: Any = None
