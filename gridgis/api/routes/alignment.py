"""API routes: alignment. Thin: read the community's layers from the store, call the library, answer.
Proposals (and apply) divide open land along the store's roads when it holds them
(:func:`gridgis.alignment.roads.stored_roads`, the rule ``gridgis align`` on the store follows too).

- ``GET  /communities/{code}/alignment/analysis`` — counts per case, cut compounds, coverage.
- ``GET  /communities/{code}/alignment/problems`` — the problem pieces (GeoJSON, EPSG:4326).
- ``POST /communities/{code}/alignment/proposal`` — proposed grids, changes and report (nothing stored);
  body (optional): alignment settings, e.g. ``{"household_min": 300, "household_max": 500}``; open land
  is divided along the store's roads when it holds them (``roads``: the import used, or null).
- ``POST /communities/{code}/alignment/apply`` — ``{"message", "commit": false, ...settings}``:
  a dry run unless ``commit`` is true (``problems``: what the commit check would refuse); a commit is
  stored by the editing service (locked validation, versions pinned) as one boundary generation holding
  the changed grids and their micro-grids split again from whole buildings (``micro_grid_changes``),
  authored by the token's holder (an ``author`` in the body is ignored) and audited.
- ``GET  /communities/{code}/party-structure`` — the suggested party organisation (tree and table).
- ``GET  /grids/{code}/micro-grid-split`` — proposed micro-grids of whole buildings (nothing stored).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Body, Path, Query, Request

from gridgis.api.deps import RepositoryDep
from gridgis.api.schemas.alignment import (
    AlignmentAnalysis,
    AlignmentSettings,
    ApplyIn,
    ApplyResult,
    MicroGridSplit,
    PartyStructure,
    Proposal,
)
from gridgis.api.schemas.common import FeatureCollection, documented, request_body
from gridgis.auth.deps import AuditDep, CurrentPrincipal
from gridgis.auth.tokens import require
from gridgis.codes import area_of
from gridgis.errors import NotFoundError, ValidationError

router = APIRouter(tags=["alignment"])

CommunityCode = Annotated[str, Path(pattern=r"^\d{12}$", description="community code (12 digits)")]


def _features(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A frame as a GeoJSON FeatureCollection (lists kept as JSON arrays)."""
    return (
        json.loads(frame.to_json(drop_id=True, to_wgs84=False))
        if len(frame)
        else {"type": "FeatureCollection", "features": []}
    )


def _config(values: dict[str, Any] | None):
    from gridgis.alignment.config import AlignmentConfig

    return AlignmentConfig.from_dict(values)


def _layers(repository: Any, code: str) -> dict[str, gpd.GeoDataFrame]:
    from gridgis.alignment.apply import load_community

    layers = load_community(repository, code)
    if not len(layers["grids"]):
        raise NotFoundError(f"community {code} has no grids to align; import its grids first")
    return layers


def _analysis(repository: Any, code: str, config=None):
    from gridgis.alignment.report import analyze

    layers = _layers(repository, code)
    return layers, analyze(layers["compounds"], layers["grids"], layers["buildings"], layers["communities"], config)


@router.get(
    "/communities/{code}/alignment/analysis",
    summary="How grids and compounds fit: cases and cut compounds",
    **documented(AlignmentAnalysis),
)
def alignment_analysis(code: CommunityCode, repository: RepositoryDep) -> dict[str, Any]:
    _, analysis = _analysis(repository, code)
    return {
        "community_code": code,
        **analysis.summary(code),
        "cut_compound_list": analysis.cut_compounds(),
        "coverage": analysis.coverage.to_dict(),
    }


@router.get(
    "/communities/{code}/alignment/problems",
    summary="Problem pieces as GeoJSON (EPSG:4326)",
    **documented(FeatureCollection),
)
def alignment_problems(code: CommunityCode, repository: RepositoryDep) -> dict[str, Any]:
    _, analysis = _analysis(repository, code)
    return _features(analysis.problems)


def _propose(repository: Any, code: str, settings: dict[str, Any] | None):
    from gridgis.alignment.propose import propose_alignment
    from gridgis.alignment.report import analyze
    from gridgis.alignment.roads import stored_roads

    config = _config(settings)
    layers, before = _analysis(repository, code, config)
    proposal = propose_alignment(
        layers["compounds"],
        layers["grids"],
        layers["buildings"],
        layers["communities"],
        config=config,
        roads=stored_roads(repository, layers["communities"]),  # the store's roads, as the CLI on the store
    )
    after = analyze(layers["compounds"], proposal.grids, layers["buildings"], layers["communities"], config)
    return layers, before, after, proposal


@router.post(
    "/communities/{code}/alignment/proposal",
    summary="Propose grids that follow compound boundaries",
    **documented(Proposal),
    openapi_extra=request_body(AlignmentSettings, "application/json", required=False),
)
def alignment_proposal(
    code: CommunityCode,
    repository: RepositoryDep,
    settings: Annotated[dict[str, Any] | None, Body(description="alignment settings")] = None,
) -> dict[str, Any]:
    from gridgis.alignment.report import proposal_report
    from gridgis.storage.roads import RoadStore

    _, before, after, proposal = _propose(repository, code, settings)
    roads = RoadStore(repository).current()
    return {
        "community_code": code,
        "grids": _features(proposal.grids),
        "changes": _features(proposal.changes),
        "report": json.loads(json.dumps(proposal_report(before, after, proposal), default=str, ensure_ascii=False)),
        "roads": None if roads is None else roads.to_dict(),
    }


@router.post(
    "/communities/{code}/alignment/apply",
    summary="Apply the proposal (dry run unless commit is true)",
    **documented(ApplyResult),
    openapi_extra=request_body(ApplyIn, "application/json"),
)
def alignment_apply(
    code: CommunityCode,
    request: Request,
    repository: RepositoryDep,
    principal: CurrentPrincipal,
    audit: AuditDep,
    body: Annotated[dict[str, Any], Body(description='{"message", "commit", ...settings}')],
) -> dict[str, Any]:
    from gridgis.alignment.apply import apply_proposal
    from gridgis.api.routes.features import audited, write_message

    if isinstance(body, dict) and body.get("commit") is True:
        # a commit is a boundary write: a planner (or admin) token whose scope covers the community,
        # checked before anything else in the body is interpreted; it is recorded under the token's holder
        require(principal, "edit_boundaries", code, f"applying the alignment of community {code}")
    if not isinstance(body, dict):
        raise ValidationError('apply: the body is a JSON object {"message", "commit", ...settings}')
    body = dict(body)
    body.pop("author", None)  # the author is the authenticated principal, never a name from the body
    message = str(body.pop("message", "") or "")
    commit = body.pop("commit", False)
    if not isinstance(commit, bool):
        raise ValidationError("apply: commit must be true or false")
    _, _, _, proposal = _propose(repository, code, body)
    author = principal.name if principal is not None else "anonymous"
    text = message or write_message(request, f"align grids of community {code} to compound boundaries")

    def record(store: Any, edits: list[Any]) -> Any:
        for e in edits:
            require(principal, "edit_boundaries", e.code, f"applying the alignment ({e.layer} {e.code})")
        return audited(request, audit, principal, "align-apply", "grids", [e.code for e in edits], store)

    return apply_proposal(repository, code, proposal, author, text, commit=commit, record=record).to_dict()


@router.get(
    "/communities/{code}/party-structure",
    summary="Suggested party organisation per case (tree and table)",
    **documented(PartyStructure),
)
def party_structure(
    code: CommunityCode, repository: RepositoryDep, format: Annotated[str, Query(pattern="^(tree|table)$")] = "tree"
) -> dict[str, Any]:
    from gridgis.alignment.party import party_structure as suggest

    layers, analysis = _analysis(repository, code)
    ps = suggest(layers["compounds"], layers["grids"], layers["buildings"], layers["communities"], analysis=analysis)
    if format == "table":
        return {"community_code": code, "rows": json.loads(ps.table.to_json(orient="records", force_ascii=False))}
    return {"community_code": code, "tree": ps.trees.get(code, {})}


@router.get(
    "/grids/{code}/micro-grid-split",
    summary="Proposed micro-grids of whole buildings (nothing stored)",
    **documented(MicroGridSplit),
)
def micro_grid_split(
    code: Annotated[str, Path(pattern=r"^\d{15}$")],
    repository: RepositoryDep,
    min_households: Annotated[int, Query(ge=1)] = 30,
    max_households: Annotated[int, Query(ge=1)] = 100,
) -> dict[str, Any]:
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.microgrid import split_microgrids

    grids = repository.read_layer("grids", codes=[code])
    if not len(grids):
        raise NotFoundError(f"grid {code} does not exist; check the code (15 digits)")
    buildings = repository.read_layer("buildings", filters={"community_code": area_of(code)})
    config = AlignmentConfig(microgrid_min=min_households, microgrid_max=max_households)
    micro, explanations = split_microgrids(grids, buildings, config)
    return {"grid_code": code, "micro_grids": _features(micro), "explanations": explanations}
