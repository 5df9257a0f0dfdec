"""Editing beyond single features: validation without storing, atomic planner operations,
generations (list, diff, revert), per-feature history and the audit log.

Operations take a JSON body, need a planner/admin token whose scope covers every feature they
change, and store all their changes as one generation (``"dry_run": true`` only reports them).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from fastapi import APIRouter, Request, Response
from shapely.geometry import mapping
from starlette.concurrency import run_in_threadpool

from gridgis.api.bodies import read_body, read_json_body
from gridgis.api.deps import RepositoryDep
from gridgis.api.geowork import run_geo
from gridgis.api.params import GenerationId
from gridgis.api.routes.features import audited, base_url, write_message
from gridgis.api.schemas.common import documented, request_body
from gridgis.api.schemas.editing import (
    ApplyProposalIn,
    Diff,
    Generations,
    History,
    ImportResult,
    MergeGridsIn,
    MoveBoundaryIn,
    OperationResult,
    RevertResult,
    SplitGridIn,
    TransferBuildingsIn,
    TransferCompoundIn,
    ValidateIn,
    ValidationResult,
)
from gridgis.auth.deps import AuditDep, CurrentPrincipal, ReadPrincipal
from gridgis.auth.tokens import Principal, require, sees_personal_data
from gridgis.codes import area_of
from gridgis.editing import operations, service
from gridgis.editing.changes import Edit
from gridgis.editing.geojson import feature_json, parse_crs_uri, parse_feature, read_geometry
from gridgis.editing.history import diff_geojson, tickets_frame
from gridgis.errors import GridGISError, MalformedInputError, NotFoundError, Problem, ValidationError
from gridgis.layers import get_spec
from gridgis.storage.model import ChangeOp

router = APIRouter(tags=["editing"])
JSON_KINDS = ("application/json", "application/geo+json")
GPKG = "application/geopackage+sqlite3"


def _edits_json(edits: list[Edit]) -> dict[str, Any]:
    feats = []
    for e in edits:
        props = {"layer": e.layer, "op": e.op, "code": e.code, **e.properties}
        feats.append(
            {
                "type": "Feature",
                "id": f"{e.layer}/{e.code}",
                "geometry": mapping(e.geometry) if e.geometry is not None else None,
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def _field(body: dict[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    value = body.get(key)
    if value is None or not isinstance(value, kind):
        raise ValidationError(f"the body needs {key!r} ({getattr(kind, '__name__', 'value')})")
    return value


def _run(
    request: Request, repository: Any, principal: Any, audit: Any, action: str, body: dict[str, Any], make: Any
) -> dict[str, Any]:
    require(principal, "edit_boundaries", None, action)
    edits: list[Edit] = make()
    for e in edits:
        require(principal, "edit_boundaries", e.code, f"{action} ({e.layer} {e.code})")
        if e.op != "create" and e.expected_version is None:  # every change is pinned to what was read
            raise RuntimeError(
                f"{action} built a {e.op} of {e.layer} {e.code} without the version it was computed from"
            )
    pinned = body.get("versions")  # the versions the client drew its edit on (the web editor sends them)
    if isinstance(pinned, dict):
        for e in edits:
            if e.op != "create" and isinstance(pinned.get(e.code), int):
                e.expected_version = pinned[e.code]
        service.refuse_stale(repository, edits)  # someone committed since: 412, the client redraws and redoes
    if body.get("dry_run"):
        problems = service.check(repository, edits)
        answer = {
            "stored": False,
            "valid": not problems,
            "problems": [p.to_dict() for p in problems],
            "changes": _edits_json(edits),
        }
        if body.get("impact"):  # the web editor's next question, answered in the same round trip
            from gridgis.maps.viewer import impact

            answer["impact"] = impact(repository, {"changes": answer["changes"]})
        return answer
    message = body.get("message") or write_message(request, action)
    generation = audited(
        request,
        audit,
        principal,
        action,
        edits[0].layer if edits else None,
        [e.code for e in edits],
        lambda: service.commit(repository, edits, principal.name, message),
    )
    return {"stored": True, "generation": generation.to_dict(), "changes": _edits_json(edits)}


def _reads(repository: Any, body: dict[str, Any]) -> Any:
    """The store a request reads: a dry run shares the reads of its generation (:class:`service.GenerationReads`)."""
    return service.GenerationReads(repository) if body.get("dry_run") else repository


def _name(principal: Principal | None) -> str:
    assert principal is not None  # require() has refused anonymous writes
    return principal.name


def _with_micro_grids(repository: Any, edits: list[Edit]) -> list[Edit]:
    """The operation's grid edits plus the micro-grid edits that keep every changed grid tiled."""
    from gridgis.editing.follow import with_micro_grids

    codes = sorted({e.code for e in edits if e.layer == "grids"})
    if not codes:
        return edits
    grids = repository.read_layer("grids", codes=codes)
    # read around the grids (a spatially indexed read), not by attribute over the whole city
    outlines = list(grids.geometry.values) + [e.geometry for e in edits if e.geometry is not None]
    box = tuple(float(v) for v in shapely.total_bounds(outlines))
    micro = repository.read_layer("micro_grids", bbox=box)
    micro = micro[micro["grid_code"].astype(str).isin(codes).to_numpy()]
    buildings = repository.read_layer("buildings", bbox=box)
    buildings = buildings[buildings["community_code"].astype(str).isin({area_of(c) for c in codes}).to_numpy()]
    return with_micro_grids(edits, grids, micro, buildings)


def _naming(layer: str, code: str, what: str, read: Any) -> Any:
    """Run ``read()`` (parsing input for feature ``code``); a refusal it raises names the feature."""
    import dataclasses

    try:
        return read()
    except GridGISError as err:
        problems = [
            p if p.feature else dataclasses.replace(p, feature=code, layer=p.layer or layer) for p in err.problems
        ] or [Problem(err.message, feature=code, layer=layer, kind="bad_input")]
        raised = type(err)(f"{what} of {layer} {code}: {err.message}", problems)
        raise raised from err


#: keys of an operation's body that name the objects it changes
NAMED_CODES = ("a", "b", "grid", "grids", "compound", "to_grid", "buildings", "community")


async def _body(request: Request, principal: Any, action: str) -> dict[str, Any]:
    """The body of an operation, read only after the caller's role is checked, and refused (403)
    when it names an object outside the caller's scope, before anything else in it is interpreted:
    an unauthorised caller learns nothing about objects."""
    require(principal, "edit_boundaries", None, action)
    body = await read_json_body(request, JSON_KINDS)
    if not isinstance(body, dict):
        raise MalformedInputError("the body must be a JSON object")
    for key in NAMED_CODES:
        value = body.get(key)
        for code in value if isinstance(value, list) else [value]:
            if isinstance(code, str):
                require(principal, "edit_boundaries", code, f"{action} ({key} {code})")
    return body


@router.post(
    "/operations/move-boundary",
    summary="Move the boundary shared by two grids (one generation)",
    **documented(OperationResult),
    openapi_extra=request_body(MoveBoundaryIn, "application/json", "application/geo+json"),
)
async def move_boundary(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "move-boundary")
    repository = _reads(repository, body)
    layer = body.get("layer", "grids")
    crs = parse_crs_uri(request.headers.get("content-crs"))

    def make() -> list[Edit]:
        a, b = _field(body, "a"), _field(body, "b")
        geom = _naming(layer, a, "the new outline", lambda: read_geometry(layer, _field(body, "geometry", dict), crs))
        # the whole community: neighbours of the pair may need the moved boundary's end points
        frame = (
            repository.read_layer(layer, filters={"community_code": area_of(a)})
            if layer == "grids"
            else repository.read_layer(layer, codes=[a, b])
        )
        return _with_micro_grids(repository, operations.move_boundary(frame, a, b, geom, layer))

    return await run_geo(_run, request, repository, principal, audit, "move-boundary", body, make)


@router.post(
    "/operations/transfer-compound",
    summary="Hand a compound to a neighbouring grid",
    **documented(OperationResult),
    openapi_extra=request_body(TransferCompoundIn, "application/json", "application/geo+json"),
)
async def transfer_compound(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "transfer-compound")
    repository = _reads(repository, body)

    def make() -> list[Edit]:
        compound, to = _field(body, "compound"), _field(body, "to_grid")
        grids = repository.read_layer("grids", filters={"community_code": area_of(to)})
        compounds = repository.read_layer("compounds", codes=[compound])
        return _with_micro_grids(repository, operations.transfer_compound(grids, compounds, compound, to))

    return await run_geo(_run, request, repository, principal, audit, "transfer-compound", body, make)


@router.post(
    "/operations/transfer-buildings",
    summary="Hand buildings to a neighbouring grid",
    **documented(OperationResult),
    openapi_extra=request_body(TransferBuildingsIn, "application/json", "application/geo+json"),
)
async def transfer_buildings(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "transfer-buildings")
    repository = _reads(repository, body)

    def make() -> list[Edit]:
        codes, to = _field(body, "buildings", list), _field(body, "to_grid")
        grids = repository.read_layer("grids", filters={"community_code": area_of(to)})
        buildings = repository.read_layer("buildings", codes=[str(c) for c in codes])
        return _with_micro_grids(repository, operations.transfer_buildings(grids, buildings, codes, to))

    return await run_geo(_run, request, repository, principal, audit, "transfer-buildings", body, make)


@router.post(
    "/operations/split-grid",
    summary="Split a grid in two along a line",
    **documented(OperationResult),
    openapi_extra=request_body(SplitGridIn, "application/json", "application/geo+json"),
)
async def split_grid(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "split-grid")
    repository = _reads(repository, body)
    crs = parse_crs_uri(request.headers.get("content-crs"))

    def make() -> list[Edit]:
        code = _field(body, "grid")
        try:
            line = shapely.geometry.shape(_field(body, "line", dict))
        except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.ShapelyError):
            raise MalformedInputError("'line' must be a GeoJSON LineString") from None
        from gridgis.editing.geojson import from_api_crs

        grids = repository.read_layer("grids", filters={"community_code": area_of(code)})
        edits = operations.split_grid(grids, code, from_api_crs(line, crs), body.get("new_code"), body.get("new_name"))
        return _with_micro_grids(repository, edits)

    return await run_geo(_run, request, repository, principal, audit, "split-grid", body, make)


@router.post(
    "/operations/merge-grids",
    summary="Merge neighbouring grids of one community",
    **documented(OperationResult),
    openapi_extra=request_body(MergeGridsIn, "application/json", "application/geo+json"),
)
async def merge_grids(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "merge-grids")
    repository = _reads(repository, body)

    def make() -> list[Edit]:
        codes = [str(c) for c in _field(body, "grids", list)]
        grids = repository.read_layer("grids", codes=codes)
        return _with_micro_grids(repository, operations.merge_grids(grids, codes, body.get("name")))

    return await run_geo(_run, request, repository, principal, audit, "merge-grids", body, make)


@router.post(
    "/operations/apply-proposal",
    summary="Replace a community's grids with a proposal",
    **documented(OperationResult),
    openapi_extra=request_body(ApplyProposalIn, "application/json", "application/geo+json"),
)
async def apply_proposal(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    body = await _body(request, principal, "apply-proposal")
    repository = _reads(repository, body)

    def make() -> list[Edit]:
        community = _field(body, "community")
        proposal = _field(body, "proposal", dict)
        try:
            frame = gpd.GeoDataFrame.from_features(proposal.get("features", []), crs="EPSG:4326")
        except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.ShapelyError) as exc:
            raise MalformedInputError(f"'proposal' must be a GeoJSON FeatureCollection of grids: {exc}") from None
        grids = repository.read_layer("grids", filters={"community_code": community})
        return _with_micro_grids(repository, operations.apply_proposal(grids, frame, community))

    return await run_geo(_run, request, repository, principal, audit, "apply-proposal", body, make)


@router.post(
    "/collections/{layer}/validate",
    summary="Validate features without storing them",
    **documented(ValidationResult),
    openapi_extra=request_body(ValidateIn, "application/json", "application/geo+json"),
)
async def validate(layer: str, request: Request, repository: RepositoryDep, reader: ReadPrincipal) -> dict[str, Any]:
    body = await read_json_body(request, JSON_KINDS)
    return await run_geo(_validate, layer, body, request, repository)


@router.post(
    "/validate",
    summary="Validate features of the layer named in the body, without storing them",
    **documented(ValidationResult),
    openapi_extra=request_body(ValidateIn, "application/json", "application/geo+json"),
)
async def validate_any(request: Request, repository: RepositoryDep, reader: ReadPrincipal) -> dict[str, Any]:
    body = await read_json_body(request, JSON_KINDS)
    if not isinstance(body, dict) or not isinstance(body.get("layer"), str):
        raise ValidationError('name the layer: {"layer": "grids", "type": "FeatureCollection", …}')
    return await run_geo(_validate, body["layer"], body, request, repository)


def _validate(layer: str, body: Any, request: Request, repository: Any) -> dict[str, Any]:
    get_spec(layer)
    if not isinstance(body, dict):
        raise MalformedInputError("the body must be a GeoJSON Feature or FeatureCollection")
    feats = body.get("features") if body.get("type") == "FeatureCollection" else [body]
    crs = parse_crs_uri(request.headers.get("content-crs"))
    edits = []
    for raw in feats or []:
        parsed = parse_feature(layer, raw, crs, request.app.state.settings.max_geometry_vertices)
        if not parsed.code:
            raise ValidationError("every feature needs properties.code")
        op: ChangeOp
        try:
            repository.get_feature(layer, parsed.code)
            op = "replace"
        except NotFoundError:
            op = "create"
        edits.append(Edit(layer, op, parsed.code, parsed.properties, parsed.geometry))
    problems = service.check(repository, edits) if edits else []
    return {"valid": not problems, "problems": [p.to_dict() for p in problems], "checked": len(edits)}


@router.get("/generations", summary="Every generation: id, time, author, message", **documented(Generations))
def generations(repository: RepositoryDep, reader: ReadPrincipal) -> dict[str, Any]:
    return {"generations": [g.to_dict() for g in repository.generations()]}


@router.get(
    "/generations/{gen_a}/diff/{gen_b}",
    summary="What changed between two generations (GeoJSON)",
    **documented(Diff),
)
def diff(
    gen_a: GenerationId, gen_b: GenerationId, repository: RepositoryDep, reader: ReadPrincipal, layer: str | None = None
) -> dict[str, Any]:
    frame = repository.diff(gen_a, gen_b, layer)
    pieces = [g for g in list(frame["geometry"]) + list(frame["geometry_a"]) if g is not None] if len(frame) else []
    box = tuple(shapely.total_bounds(pieces)) if pieces else None
    buildings = repository.read_layer("buildings", generation=gen_b, bbox=box) if box else None
    out = diff_geojson(frame, buildings, tickets_frame(repository.engine, box))
    out.update(generation_a=gen_a, generation_b=gen_b)
    return out


@router.post(
    "/generations/{generation}/revert",
    summary="Revert every layer to a generation (a new generation)",
    **documented(RevertResult),
)
def revert(
    generation: GenerationId, request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> dict[str, Any]:
    require(principal, "edit_boundaries", None, "reverting")
    current = repository.current_generation()
    codes = [] if current is None else [str(c) for c in repository.diff(generation, current.id)["code"]]
    for code in codes:
        require(principal, "edit_boundaries", code, f"reverting {code}")
    message = write_message(request, f"revert to generation {generation}")
    gen = audited(
        request,
        audit,
        principal,
        "revert",
        None,
        codes,
        lambda: repository.revert_to(generation, _name(principal), message),
    )
    return {"generation": gen.to_dict(), "reverted": codes}


@router.get("/collections/{layer}/items/{code}/history", summary="Every version of one feature", **documented(History))
def history(
    layer: str, code: str, request: Request, repository: RepositoryDep, reader: ReadPrincipal
) -> dict[str, Any]:
    get_spec(layer)
    feats = []
    for entry in repository.feature_history(layer, code):
        row = {
            "code": code,
            "name": entry["name"],
            **entry["properties"],
            "geometry": entry["geometry"],
            "version": entry["version"],
        }
        f = feature_json(layer, row, contacts=sees_personal_data(reader, "worker_contacts", code))
        f["id"] = f"{code}@{entry['version']}"
        f["properties"].update(
            generation=entry["generation"],
            created_at=entry["created_at"].isoformat(),
            author=entry["author"],
            message=entry["message"],
            ended_in=entry["ended_in"],
        )
        feats.append(f)
    return {
        "type": "FeatureCollection",
        "features": feats,
        "links": [{"href": f"{base_url(request)}/collections/{layer}/items/{code}", "rel": "latest-version"}],
    }


@router.get(
    "/editing/communities/{code}.gpkg",
    summary="Export a community as a GeoPackage for QGIS",
    response_class=Response,
    responses={
        200: {"description": "the GeoPackage", "content": {GPKG: {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def export_gpkg(code: str, repository: RepositoryDep, reader: ReadPrincipal) -> Response:
    import tempfile
    from pathlib import Path

    from gridgis.editing.roundtrip import export_community

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{code}.gpkg"
        export_community(repository, code, path, contacts=lambda c: sees_personal_data(reader, "worker_contacts", c))
        data = path.read_bytes()
    return Response(data, media_type=GPKG, headers={"Content-Disposition": f'attachment; filename="{code}.gpkg"'})


@router.post(
    "/editing/import",
    summary="An edited export as a proposal: diff + validation; ?commit=true stores it",
    **documented(ImportResult),
    openapi_extra=request_body(
        None,
        GPKG,
        "application/octet-stream",
        description="the GeoPackage exported by GET /editing/communities/{code}.gpkg, edited",
        schema={"type": "string", "format": "binary"},
    ),
)
async def import_gpkg(
    request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep, commit: bool = False
) -> dict[str, Any]:
    import tempfile
    from pathlib import Path

    from gridgis.editing.roundtrip import commit_import, plan_import

    if commit:  # the role before the file is read; the scope of each changed object after
        require(principal, "edit_boundaries", None, "importing edits")
    data = await read_body(request)
    if not data.startswith(b"SQLite format 3"):
        raise MalformedInputError("send the GeoPackage exported by GET /editing/communities/{code}.gpkg as the body")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edited.gpkg"
        path.write_bytes(data)
        plan = await run_in_threadpool(plan_import, repository, path)
    if commit:
        for e in plan.edits:
            require(principal, "edit_boundaries", e.code, f"importing edits ({e.layer} {e.code})")
    elif principal is None and not request.app.state.settings.public_reads:
        require(None, "read", None, "previewing an import")
    out: dict[str, Any] = {
        "community": plan.community,
        "exported_generation": plan.generation,
        "changes": _edits_json(plan.edits),
        "problems": [p.to_dict() for p in plan.problems],
        "stale": plan.stale,
        "valid": plan.ok,
        "stored": False,
    }
    if commit and plan.edits:
        message = write_message(request, f"import edits of community {plan.community}")
        generation = await run_in_threadpool(
            audited,
            request,
            audit,
            principal,
            "import",
            None,
            [e.code for e in plan.edits],
            lambda: commit_import(repository, plan, _name(principal), message),
        )
        out.update(stored=True, generation=generation.to_dict())
    return out


# GET /audit lives in gridgis/api/routes/audit.py (filters by actor, object, time)
