"""OGC API – Features at the API root: Part 1 reads, Part 2 CRS, Part 4 writes with optimistic locking.

Locking: every item has an ``ETag`` (its version) and a read-only ``version`` property. A write
must carry the version it was based on, as ``If-Match`` or as the ``version`` property (QGIS
echoes it in PUT); a stale one is refused with 412, none at all with 428. One exception keeps QGIS
usable: QGIS keeps the version it downloaded, so a planner's second save of the same feature carries
a stale version; when every change since was that planner's own and a three-way merge has no
conflict, the save is rebased on the current version (:mod:`gridgis.editing.merge`). ``OPTIONS`` advertises
PUT but not PATCH, so QGIS always sends whole features with their version; PATCH
(``application/merge-patch+json``) is served for clients that send ``If-Match`` or ``version``.
DELETE needs ``If-Match`` (QGIS sends none, so a delete from QGIS is refused with 428: use
``merge-grids`` or a client that sends ``If-Match``). Every write needs a planner/admin token whose
scope covers the feature and is recorded in the audit log; the message comes from the
``X-Gridgis-Message`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gridgis.api.bodies import read_json_body
from gridgis.api.deps import RepositoryDep
from gridgis.api.params import BBoxDep, CrsDep, DateTimeDep, GenerationDep, LimitDep, OffsetDep
from gridgis.api.schemas.common import documented, request_body
from gridgis.api.schemas.ogc import (
    Collection,
    Collections,
    Conformance,
    FeatureIn,
    FeatureItems,
    Landing,
    MergePatch,
    OgcFeature,
)
from gridgis.auth.deps import AuditDep, CurrentPrincipal, ReadPrincipal
from gridgis.auth.tokens import Principal, require, sees_personal_data
from gridgis.editing import ogc, service
from gridgis.editing.changes import Edit
from gridgis.editing.geojson import (
    CRS84,
    ApiCRS,
    ParsedFeature,
    dumps,
    etag,
    feature_json,
    feature_text,
    keep_unread,
    merge_patch,
    parse_crs_uri,
    parse_feature,
    parse_if_match,
    summary_problems,
)
from gridgis.editing.snapping import snap_to_stored
from gridgis.errors import (
    GridGISError,
    InvalidParameterError,
    MalformedInputError,
    PreconditionFailedError,
    PreconditionRequiredError,
    StorageUnavailableError,
    ValidationError,
)
from gridgis.layers import get_spec

router = APIRouter(tags=["features"])
log = logging.getLogger("gridgis.api.features")
RESERVED = {"bbox", "bbox-crs", "limit", "offset", "datetime", "generation", "crs", "f"}
MESSAGE_HEADER = "x-gridgis-message"


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _geojson(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str = ogc.GEOJSON
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=media_type, headers=headers)


def audited(
    request: Request,
    audit: Any,
    principal: Principal | None,
    action: str,
    layer: str | None,
    codes: list[str],
    work: Callable[[], Any],
) -> Any:
    """Run a write and record it (accepted or refused) in the audit log."""
    message = request.headers.get(MESSAGE_HEADER, "")
    try:
        generation = work()
    except GridGISError as exc:
        try:
            audit.record(
                principal,
                request.method,
                request.url.path,
                action,
                exc.status,
                layer,
                codes,
                None,
                message or exc.message[:500],
            )
        except StorageUnavailableError:  # the refusal is what the caller must hear, not the audit's outage
            log.error("audit of a refused %s %s not recorded: database unavailable", action, codes[:5])
        raise
    try:
        audit.record(
            principal,
            request.method,
            request.url.path,
            action,
            200,
            layer,
            codes,
            getattr(generation, "id", None),
            message,
        )
    except StorageUnavailableError:  # the write is committed: acknowledge it; the gap in the log is logged
        log.error("audit of %s %s (generation %s) not recorded: database unavailable", action, codes[:5], generation)
    return generation


def write_message(request: Request, default: str) -> str:
    raw = request.headers.get(MESSAGE_HEADER)
    if raw:
        from urllib.parse import unquote

        return unquote(raw)
    return default


def _layer(layer: str) -> str:
    get_spec(layer)
    return layer


def _filters(layer: str, params: Any) -> dict[str, Any]:
    spec = get_spec(layer)
    fields = {f.name: f for f in spec.fields}
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in RESERVED:
            continue
        if key == "name":
            out[key] = value
        elif key in fields and fields[key].type != "json":
            f = fields[key]
            try:
                out[key] = (
                    int(value)
                    if f.type == "int"
                    else float(value)
                    if f.type == "float"
                    else (value.lower() in ("1", "true", "yes"))
                    if f.type == "bool"
                    else value
                )
            except ValueError:
                raise InvalidParameterError(key, f"filter {key}={value!r} is not a {f.type}") from None
        else:
            allowed = ", ".join(["name", *(n for n, f in fields.items() if f.type != "json")])
            raise InvalidParameterError(key, f"unknown query parameter {key!r}; {layer} can be filtered by {allowed}")
    return out


def city_bbox(repo: Any) -> list[float] | None:
    streets = repo.read_layer("streets")
    if not len(streets):
        return None
    return [round(float(v), 7) for v in streets.total_bounds]


@router.get("/", summary="Landing page (OGC API – Features)", **documented(Landing))
def landing(request: Request, reader: ReadPrincipal) -> JSONResponse:
    return JSONResponse(ogc.landing(base_url(request)))


@router.get("/conformance", summary="Conformance classes", **documented(Conformance))
def conformance(reader: ReadPrincipal) -> dict[str, list[str]]:
    return {"conformsTo": ogc.CONFORMANCE}


@router.get("/collections", summary="The layers", **documented(Collections))
def collections(request: Request, repository: RepositoryDep, reader: ReadPrincipal) -> dict[str, Any]:
    return ogc.collections(base_url(request), city_bbox(repository))


@router.get("/collections/{layer}", summary="One layer", **documented(Collection))
def collection(layer: str, request: Request, repository: RepositoryDep, reader: ReadPrincipal) -> dict[str, Any]:
    return ogc.collection(_layer(layer), base_url(request), city_bbox(repository))


@router.head("/collections/{layer}/items", include_in_schema=False)
@router.get(
    "/collections/{layer}/items",
    summary="Features of a layer (GeoJSON, paged)",
    **documented(FeatureItems, media_type=ogc.GEOJSON),
)
async def items(
    layer: str,
    request: Request,
    repository: RepositoryDep,
    reader: ReadPrincipal,
    limit: LimitDep,
    offset: OffsetDep,
    box: BBoxDep,
    at: DateTimeDep,
    generation: GenerationDep,
    out_crs: CrsDep,
) -> Response:
    """On the event loop; only the database read runs in the thread pool."""
    _layer(layer)
    found = await fast_items(request, repository, layer, reader, limit, offset, box, at, generation, out_crs)
    if found is not None:
        return found
    filters = _filters(layer, request.query_params)

    def framed() -> dict[str, Any]:  # SQLite, EPSG:3857
        frame = repository.read_layer(
            layer, generation=generation, at=at, bbox=box, limit=limit, offset=offset, filters=filters or None
        )
        matched = repository.count(layer, generation=generation, at=at, bbox=box, filters=filters or None)
        features = [
            feature_json(layer, row, out_crs, contacts=sees_contacts(reader, str(row["code"])))
            for _, row in frame.iterrows()
        ]
        tail = _page_tail(request, layer, limit, offset, len(features), matched)
        return {"type": "FeatureCollection", "features": features, **tail}

    return _geojson(await run_in_threadpool(framed), headers={"Content-Crs": out_crs.header})


def _page_tail(request: Request, layer: str, limit: int, offset: int, returned: int, matched: int) -> dict[str, Any]:
    """numberMatched, numberReturned, timeStamp and the paging links of an items page."""
    params = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
    return {
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": datetime.now().astimezone().isoformat(),
        "links": ogc.page_links(
            f"{base_url(request)}/collections/{layer}/items", params, offset, limit, returned, matched
        ),
    }


async def fast_items(
    request: Request,
    repository: Any,
    layer: str,
    reader: Principal | None,
    limit: int,
    offset: int,
    box: Any,
    at: datetime | None,
    generation: int | None,
    out_crs: ApiCRS,
) -> Response | None:
    """An items page as PostGIS writes it (one round trip, the feature JSON joined as text): the
    answer of :func:`items` and of :class:`gridgis.api.fastpath.FeatureFastPath`. ``None`` when this
    read cannot answer (SQLite, EPSG:3857): the route's frame path then does."""
    filters = _filters(layer, request.query_params)
    page = _fast_page(repository, layer, out_crs, generation=generation, at=at, bbox=box, filters=filters or None)
    if page is None:
        return None
    rows, matched = await run_in_threadpool(page, limit, offset)
    texts = [feature_text(layer, row, contacts=sees_contacts(reader, str(row["code"]))) for row in rows]
    tail = dumps(_page_tail(request, layer, limit, offset, len(texts), matched))
    text = f'{{"type":"FeatureCollection","features":[{",".join(texts)}],{tail[1:]}'
    return Response(text.encode(), media_type=ogc.GEOJSON, headers={"Content-Crs": out_crs.header})


def _fast_page(
    repository: Any, layer: str, out_crs: ApiCRS, **where: Any
) -> Callable[[int | None, int], tuple[list[dict[str, Any]], int]] | None:
    """The PostGIS read of items (:meth:`Repository.read_geojson_page`) when it can serve this
    request: a lon/lat answer (CRS84, or EPSG:4326/4490 with the axes swapped by PostGIS) from a
    repository that offers it. ``None``: use the frame path (SQLite, EPSG:3857)."""
    if out_crs.epsg == 3857 or not getattr(repository, "is_postgis", False):
        return None
    read = getattr(repository, "read_geojson_page", None)
    if read is None:
        return None

    def page(limit: int | None, offset: int) -> tuple[list[dict[str, Any]], int]:
        found = read(layer, limit=limit, offset=offset, latlon=out_crs.latlon, count="codes" not in where, **where)
        if found is None:
            raise LookupError("the fast path declined")  # not reached from the API: no code lists here
        return found

    return page


@router.options("/collections/{layer}/items", summary="What may be done with the items")
def items_options(layer: str) -> Response:
    _layer(layer)
    return Response(status_code=204, headers={"Allow": ogc.ALLOW_ITEMS})


@router.head("/collections/{layer}/items/{code}", include_in_schema=False)
@router.get(
    "/collections/{layer}/items/{code}",
    summary="One feature, with its ETag",
    **documented(OgcFeature, media_type=ogc.GEOJSON),
)
async def item(
    layer: str,
    code: str,
    request: Request,
    repository: RepositoryDep,
    reader: ReadPrincipal,
    out_crs: CrsDep,
    generation: GenerationDep,
) -> Response:
    """On the event loop; only the database read runs in the thread pool."""
    _layer(layer)
    found = await fast_item(request, repository, layer, code, reader, out_crs, generation)
    if found is not None:
        return found

    def framed() -> dict[str, Any]:  # absent (the not-found problem), SQLite, EPSG:3857
        return repository.get_feature(layer, code, generation=generation)

    feat = await run_in_threadpool(framed)
    links = _item_links(base_url(request), layer, code)
    return _geojson(
        feature_json(layer, feat, out_crs, links, contacts=sees_contacts(reader, code)),
        headers={"ETag": etag(feat["version"]), "Content-Crs": out_crs.header},
    )


def _item_links(base: str, layer: str, code: str) -> list[dict[str, Any]]:
    return [
        ogc.link(f"{base}/collections/{layer}/items/{code}", "self", ogc.GEOJSON),
        ogc.link(f"{base}/collections/{layer}", "collection"),
        ogc.link(f"{base}/collections/{layer}/items/{code}/history", "version-history"),
    ]


async def fast_item(
    request: Request,
    repository: Any,
    layer: str,
    code: str,
    reader: Principal | None,
    out_crs: ApiCRS,
    generation: int | None,
) -> Response | None:
    """One feature as PostGIS writes it (one statement, the JSON text joined, no shapely): the
    answer of :func:`item` and of :class:`gridgis.api.fastpath.FeatureFastPath`. ``None`` when
    this read cannot answer (SQLite, EPSG:3857, no such feature): the route's frame path then does."""
    page = _fast_page(repository, layer, out_crs, generation=generation, codes=[code])
    if page is None:
        return None
    rows, _ = await run_in_threadpool(page, None, 0)
    if not rows:
        return None
    links = _item_links(base_url(request), layer, code)
    text = feature_text(layer, rows[0], contacts=sees_contacts(reader, code), links=links)
    headers = {"ETag": etag(rows[0]["version"]), "Content-Crs": out_crs.header}
    return Response(text.encode(), media_type=ogc.GEOJSON, headers=headers)


@router.options("/collections/{layer}/items/{code}", summary="What may be done with one item")
def item_options(layer: str, code: str) -> Response:
    _layer(layer)
    return Response(status_code=204, headers={"Allow": ogc.ALLOW_ITEM, "Accept-Patch": "application/merge-patch+json"})


def expected_version(request: Request, body_version: int | None, current: int, what: str) -> int:
    """The version a write is based on; 412 when stale, 428 when the client gave none."""
    tags = parse_if_match(request.headers.get("if-match"))
    if tags is not None and "*" not in tags and etag(current) not in tags:
        raise PreconditionFailedError(
            f"{what} changed since you read it (If-Match {', '.join(tags)}, stored "
            f"{etag(current)}); reload it, redo your edit and save again"
        )
    if body_version is not None and body_version != current:
        raise PreconditionFailedError(
            f"{what} changed since you read it (you edited version {body_version}, "
            f"stored version {current}); reload it, redo your edit and save again"
        )
    if tags is None and body_version is None:
        raise PreconditionRequiredError(
            f"{what}: say which version you edited, with If-Match: {etag(current)} "
            "or the feature's 'version' property, so no one's change is overwritten"
        )
    return current


def _rebase_own(
    request: Request,
    repository: Any,
    layer: str,
    code: str,
    body_version: int | None,
    current: dict[str, Any],
    principal: Principal | None,
    props: dict[str, Any],
    geometry: Any,
) -> tuple[dict[str, Any], Any, int] | None:
    """A stale PUT (no If-Match) rebased on the current version when every change since was the same
    principal's and nothing conflicts (QGIS keeps the version it loaded); None otherwise."""
    from gridgis.editing.merge import rebase_own_save

    if body_version is None or body_version == current["version"] or request.headers.get("if-match"):
        return None
    fields = list(props)
    found = rebase_own_save(
        repository.feature_history(layer, code),
        body_version,
        _author(principal),
        fields,
        {**props, "geometry": geometry},
    )
    if found is None:
        return None
    merged, version = found
    return {k: merged.get(k) for k in fields}, merged.get("geometry"), version


def sees_contacts(principal: Principal | None, code: str) -> bool:
    """Whether the workers' phones of feature ``code`` go to ``principal`` (the one privacy rule)."""
    return sees_personal_data(principal, "worker_contacts", code)


def _written(
    request: Request, repository: Any, layer: str, code: str, status: int, principal: Principal | None
) -> JSONResponse:
    url = f"{base_url(request)}/collections/{layer}/items/{code}"
    location = {"Location": url} if status == 201 else {}
    try:
        feat = repository.get_feature(layer, code)
    except StorageUnavailableError:  # the write is committed: acknowledge it, without the read-back
        note = {"code": code, "warnings": ["stored; the stored feature could not be read back (database unavailable)"]}
        return JSONResponse(note, status_code=status, headers=location)
    headers = {"ETag": etag(feat["version"]), "Content-Crs": f"<{CRS84}>", **location}
    return _geojson(feature_json(layer, feat, contacts=sees_contacts(principal, code)), status, headers)


def _content_crs(request: Request) -> ApiCRS:
    return parse_crs_uri(request.headers.get("content-crs"))


@router.post(
    "/collections/{layer}/items",
    status_code=201,
    summary="Create a feature (planner)",
    **documented(OgcFeature, 201, ogc.GEOJSON),
    openapi_extra=request_body(FeatureIn, ogc.GEOJSON, "application/json"),
)
async def create_item(
    layer: str, request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> JSONResponse:
    _layer(layer)
    require(principal, "edit_boundaries", None, f"creating {layer}")  # 401/403 before the body is read
    body = await read_json_body(request, (ogc.GEOJSON, "application/json"))
    named = body.get("properties") if isinstance(body, dict) else None
    if isinstance(named, dict) and isinstance(named.get("code"), str):  # scope before the rest is interpreted
        require(principal, "edit_boundaries", named["code"], f"creating {layer} {named['code']}")
    settings = request.app.state.settings
    parsed = parse_feature(layer, body, _content_crs(request), settings.max_geometry_vertices)
    if not parsed.code:
        raise ValidationError(f"give the new feature's code as properties.code (e.g. {_example(layer)})")
    code = parsed.code

    def work() -> Any:
        require(principal, "edit_boundaries", code, f"creating {layer} {code}")
        _refuse_summaries(layer, parsed, parsed.properties, {})
        geometry = snap_to_stored(repository, layer, None, parsed.geometry, settings.edit_snap_tolerance_m)
        edit = Edit(layer, "create", code, parsed.properties, geometry)
        return service.commit(repository, [edit], _author(principal), write_message(request, f"create {layer} {code}"))

    await run_in_threadpool(audited, request, audit, principal, "create", layer, [code], work)
    return await run_in_threadpool(_written, request, repository, layer, code, 201, principal)


def _author(principal: Principal | None) -> str:
    assert principal is not None  # require() has refused anonymous writes
    return principal.name


def _example(layer: str) -> str:
    return {"grids": "110105001001004", "compounds": "110105001001Q008"}.get(layer, "see /collections")


def _edited_version(
    repository: Any, layer: str, code: str, version: int | None, current: dict[str, Any]
) -> dict[str, Any]:
    """The fields of the version a client edited (its ``version`` property), the current one when
    it sent none or that version is unknown: what a field the client could not read still holds."""
    if version is None or version == current["version"]:
        return current
    for entry in repository.feature_history(layer, code):
        if entry["version"] == version:
            return {"name": entry["name"], **(entry.get("properties") or {})}
    return current


def _refuse_summaries(layer: str, parsed: ParsedFeature, props: dict[str, Any], edited: dict[str, Any]) -> None:
    problems = summary_problems(layer, parsed.summaries, props, edited)
    if problems:
        raise ValidationError(f"{layer}: {problems[0].message}; nothing was stored", problems)


def _full_properties(layer: str, props: dict[str, Any]) -> dict[str, Any]:
    spec = get_spec(layer)
    out = {"name": props.get("name")}
    for f in spec.fields:
        out[f.name] = props.get(f.name, f.default if f.type != "json" else [])
    return out


@router.put(
    "/collections/{layer}/items/{code}",
    summary="Replace a feature (planner; needs its version)",
    **documented(OgcFeature, media_type=ogc.GEOJSON),
    openapi_extra=request_body(FeatureIn, ogc.GEOJSON, "application/json"),
)
async def replace_item(
    layer: str, code: str, request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> JSONResponse:
    _layer(layer)
    body = await read_json_body(request, (ogc.GEOJSON, "application/json"))
    settings = request.app.state.settings

    def work() -> Any:
        require(principal, "edit_boundaries", code, f"changing {layer} {code}")
        parsed = parse_feature(layer, body, _content_crs(request), settings.max_geometry_vertices)
        if parsed.code and parsed.code != code:
            raise ValidationError(
                f"the body's code {parsed.code} differs from the URL's {code}; a code cannot "
                "change (create the new feature and delete the old one)"
            )
        current = repository.get_feature(layer, code)
        edited = _edited_version(repository, layer, code, parsed.version, current)
        props = keep_unread(layer, _full_properties(layer, parsed.properties), edited)
        _refuse_summaries(layer, parsed, props, edited)
        geometry = snap_to_stored(repository, layer, code, parsed.geometry, settings.edit_snap_tolerance_m)
        rebased = _rebase_own(request, repository, layer, code, parsed.version, current, principal, props, geometry)
        if rebased is not None:
            props, geometry, version = rebased
        else:
            version = expected_version(request, parsed.version, current["version"], f"{layer} {code}")
        edit = Edit(layer, "replace", code, props, geometry, version)
        return service.commit(repository, [edit], _author(principal), write_message(request, f"replace {layer} {code}"))

    await run_in_threadpool(audited, request, audit, principal, "replace", layer, [code], work)
    return await run_in_threadpool(_written, request, repository, layer, code, 200, principal)


@router.patch(
    "/collections/{layer}/items/{code}",
    summary="Update a feature with a JSON merge-patch",
    **documented(OgcFeature, media_type=ogc.GEOJSON),
    openapi_extra=request_body(MergePatch, "application/merge-patch+json", "application/json"),
)
async def patch_item(
    layer: str, code: str, request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> JSONResponse:
    _layer(layer)
    patch = await read_json_body(request, ("application/merge-patch+json", "application/json"))
    if not isinstance(patch, dict):
        raise MalformedInputError("a merge-patch must be a JSON object")

    def work() -> Any:
        require(principal, "edit_boundaries", code, f"changing {layer} {code}")
        current = repository.get_feature(layer, code)
        given = patch.get("properties")
        patch_props: dict[str, Any] = given if isinstance(given, dict) else {}
        body_version = patch_props.get("version")
        if body_version is not None and not isinstance(body_version, int):
            raise ValidationError(f"version {body_version!r} is not an integer")
        version = expected_version(request, body_version, current["version"], f"{layer} {code}")
        doc = feature_json(layer, current)
        merged = merge_patch(doc, {k: v for k, v in patch.items() if k != "geometry"})
        crs = ApiCRS(CRS84, False, None)
        if "geometry" in patch:
            merged["geometry"] = patch["geometry"]
            crs = _content_crs(request)
        merged.setdefault("properties", {})["version"] = version
        settings = request.app.state.settings
        parsed = parse_feature(layer, merged, crs, settings.max_geometry_vertices)
        if parsed.code and parsed.code != code:
            raise ValidationError(f"the code of {layer} {code} cannot change")
        props = _full_properties(layer, parsed.properties)
        _refuse_summaries(layer, parsed, props, current)
        geometry = parsed.geometry
        if "geometry" in patch:
            geometry = snap_to_stored(repository, layer, code, geometry, settings.edit_snap_tolerance_m)
        edit = Edit(layer, "replace", code, props, geometry, version)
        return service.commit(repository, [edit], _author(principal), write_message(request, f"update {layer} {code}"))

    await run_in_threadpool(audited, request, audit, principal, "update", layer, [code], work)
    return await run_in_threadpool(_written, request, repository, layer, code, 200, principal)


@router.delete(
    "/collections/{layer}/items/{code}", status_code=204, summary="Delete a feature (planner; needs If-Match)"
)
def delete_item(
    layer: str, code: str, request: Request, repository: RepositoryDep, principal: CurrentPrincipal, audit: AuditDep
) -> Response:
    _layer(layer)

    def work() -> Any:
        require(principal, "edit_boundaries", code, f"deleting {layer} {code}")
        current = repository.get_feature(layer, code)
        if parse_if_match(request.headers.get("if-match")) is None:
            raise PreconditionRequiredError(
                f"deleting {layer} {code} needs If-Match: {etag(current['version'])} (QGIS sends none: "
                "merge the grid with POST /operations/merge-grids instead)"
            )
        version = expected_version(request, None, current["version"], f"{layer} {code}")
        edit = Edit(layer, "delete", code, {}, None, version)
        return service.commit(repository, [edit], _author(principal), write_message(request, f"delete {layer} {code}"))

    audited(request, audit, principal, "delete", layer, [code], work)
    return Response(status_code=204)


__all__ = [
    "audited",
    "base_url",
    "expected_version",
    "fast_item",
    "fast_items",
    "read_json_body",
    "router",
    "write_message",
]
