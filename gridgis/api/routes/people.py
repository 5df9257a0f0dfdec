"""API routes of the people area: organisations, persons, assignments, coverage, wishes, points, assessment,
care, the emergency roster and 12345 intake. Thin: check role and scope, then read the body (pydantic models of
``gridgis.api.schemas.people``), call gridgis.people; every write and its audit entry in one transaction
(:meth:`PeopleStore.audited`).

Order of checks on a write (as the boundary operations do, ``gridgis.api.routes.editing``): the token (401),
the role (403), the scope of the object in the path (403), then the body is read; an object it names
(building, unit, micro-grid, work area, organisation, community) is checked against the scope (403) before
the rest of it is validated (422): a caller without rights learns nothing about objects from a refusal.

Access rules: :mod:`gridgis.people.access` (personal data masked for roles and scopes that do not need it;
care records only to those responsible; every care read and every export audited).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from gridgis.api.bodies import max_json_depth, parse_json, read_body, read_json_body
from gridgis.api.schemas.common import FeatureCollection, alternatives, documented, request_body
from gridgis.api.schemas.people import (
    MAX_ID,
    AssignmentIn,
    AssignmentOut,
    CareIn,
    CareList,
    CoverageOut,
    DoorTaskOut,
    FollowOut,
    IdsOut,
    IntakeIn,
    IntakeOut,
    NoteIn,
    OrgIn,
    OrgList,
    OrgOut,
    OrgPatch,
    PersonIn,
    PersonList,
    PersonOut,
    QueueOut,
    Resolved,
    ResolveIn,
    Roster,
    Suggestion,
    SuggestionList,
    SyncOut,
    TableOut,
    TaskDoneIn,
    TaskIn,
    TaskList,
    WishIn,
    WishList,
    WishOut,
    WishTransitionIn,
)
from gridgis.auth.deps import CurrentPrincipal
from gridgis.auth.tokens import Principal
from gridgis.codes import area_of
from gridgis.errors import NotFoundError, ValidationError
from gridgis.people.access import allowed, people_require, redact
from gridgis.people.store import AuditEntry, PeopleStore

router = APIRouter(tags=["people"])

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_people_store(request: Request) -> PeopleStore:
    """The app's people store; its placer follows the repository's current boundary generation."""
    state = request.app.state
    store = getattr(state, "people_store", None)
    if store is None:
        store = state.people_store = PeopleStore(state.repository)
    gen = state.repository.current_generation()
    if gen is not None and getattr(store, "_placed_generation", None) not in (None, gen.id):
        store.refresh_placer()
    store._placed_generation = gen.id if gen is not None else None
    return store


StoreDep = Annotated[PeopleStore, Depends(get_people_store)]


def _audit(
    store: PeopleStore, request: Request, principal: Principal | None, action: str, codes: list[Any], message: str = ""
) -> None:
    """Audit what writes nothing else (a care read, an export)."""
    store.audit(principal, action, codes, message, method=request.method, path=request.url.path)


@contextmanager
def _audited(
    store: PeopleStore, request: Request, principal: Principal | None, action: str, codes: list[Any] | None = None
) -> Iterator[AuditEntry]:
    """A write and its audit entry in one transaction (the block fills in codes and message)."""
    with store.audited(principal, action, codes or [], method=request.method, path=request.url.path) as entry:
        yield entry


#: body members naming an object on the map (or an organisation): checked against the caller's scope
#: before anything else in the body is interpreted
NAMED = ("building_code", "target", "micro_grid_code", "work_area", "parent_code", "org_code", "communities")


def _scope_codes(store: PeopleStore, key: str, code: str) -> list[str | None]:
    """The codes that decide whether a scope covers ``code`` sent as body member ``key`` ([] = nothing to check)."""
    from gridgis.people.model import split_unit_target

    if key in ("parent_code", "org_code"):
        try:
            return [store.org(code)["community_code"]]
        except NotFoundError:
            return []  # no such organisation: the validation says so
    building, _ = split_unit_target(code.split("#", 1)[0])
    b = store.placer.buildings
    if building in b.index:
        row = b.loc[building]
        return [row["micro_grid_code"], row["grid_code"], row["community_code"]]
    if "Q" in building:  # a building (or compound) code the layer does not have: its community decides
        return [area_of(building)]
    return [code]  # a micro-grid, grid or community code is its own scope


def _check_named(store: PeopleStore, principal: Principal | None, action: str, what: str, data: Any) -> None:
    if not isinstance(data, dict) or principal is None or principal.role == "admin":
        return
    for key in NAMED:
        value = data.get(key)
        for code in value if isinstance(value, list) else [value]:
            if isinstance(code, str) and code.strip():
                codes = _scope_codes(store, key, code.strip())
                if codes and not allowed(principal, action, codes):
                    _out_of_scope(principal, code.strip(), what)


def _out_of_scope(principal: Principal, code: str, what: str) -> None:
    from gridgis.errors import ForbiddenError

    raise ForbiddenError(f"{code[:40]} is outside the scope of {principal.name}; {what} is refused")


def body_of(
    model: type[pydantic.BaseModel],
    action: str,
    what: str,
    *,
    path_scope: Callable[[Request, PeopleStore], list[str | None]] | None = None,
    required: bool = True,
    scoped: bool = True,
) -> Any:
    """A dependency giving the route's body: role (401/403), the path's object's scope (403), the body's
    named objects' scope (403; not for actions without a place, ``scoped=False``: posting a wish), then the
    model's validation (422)."""

    async def dependency(request: Request, principal: CurrentPrincipal, store: StoreDep) -> Any:
        people_require(principal, action, [], what)
        if path_scope is not None:
            people_require(principal, action, await run_in_threadpool(path_scope, request, store), what)
        data = await read_json_body(request, optional=not required)
        if data is None and not required:  # an optional body left out
            return None
        if scoped:
            await run_in_threadpool(_check_named, store, principal, action, what, data)
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as err:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_url=False)]
            ) from None

    return Depends(dependency)


def _org_scope(request: Request, store: PeopleStore) -> list[str | None]:
    return [store.org(request.path_params["code"])["community_code"]]


def _task_scope(request: Request, store: PeopleStore) -> list[str | None]:
    from gridgis.people.care import door_tasks

    task_id = int(request.path_params["task_id"])
    task = next((t for t in door_tasks(store) if t["id"] == task_id), None)
    if task is None:
        raise NotFoundError(f"door-knocking task {task_id} does not exist")
    return [task["micro_grid_code"]]


# ------------------------------------------------------------------ organisations
@router.get("/people/orgs", response_model=OrgList)
def list_orgs(store: StoreDep, community: str | None = None, kind: str | None = None) -> OrgList:
    """The party organisation network (street working committee → … → central household) and co-building units."""
    rows = store.orgs(community=community, kind=kind)
    return OrgList(count=len(rows), organisations=[OrgOut(**r) for r in rows])


def _everywhere(request: Request, store: PeopleStore) -> list[str | None]:
    return ["*"]  # syncing touches every community: a scope covering all of them (or an admin)


@router.post(
    "/people/orgs/sync",
    response_model=SyncOut,
    openapi_extra=request_body(NoteIn, required=False, description="an optional note for the audit log"),
)
def sync_orgs(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[
        NoteIn | None, body_of(NoteIn, "manage_orgs", "syncing organisations", path_scope=_everywhere, required=False)
    ],
) -> SyncOut:
    """Persist the alignment's party tree (admin: it touches every community)."""
    with _audited(store, request, principal, "orgs-sync") as entry:
        counts = store.sync_orgs()
        entry.message = (body.note + " " if body else "") + json.dumps(counts)
    return SyncOut(**counts)


@router.post("/people/orgs", response_model=OrgOut, status_code=201, openapi_extra=request_body(OrgIn))
def add_org(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[OrgIn, body_of(OrgIn, "manage_orgs", "adding an organisation")],
) -> OrgOut:
    """Add a central household (under a building group) or a co-building unit paired with communities."""
    scope = [store.org(body.parent_code)["community_code"]] if body.parent_code else list(body.communities)
    people_require(principal, "manage_orgs", scope or [None], f"adding organisation {body.name}")
    with _audited(store, request, principal, "org-add") as entry:
        org = store.add_org(
            body.kind,
            body.name,
            body.parent_code,
            communities=body.communities,
            building_code=body.building_code,
            properties=body.properties,
        )
        entry.codes, entry.message = [org["code"], org["community_code"]], body.name
    return OrgOut(**org)


@router.patch("/people/orgs/{code}", response_model=OrgOut, openapi_extra=request_body(OrgPatch))
def edit_org(
    code: str,
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[OrgPatch, body_of(OrgPatch, "manage_orgs", "editing an organisation", path_scope=_org_scope)],
) -> OrgOut:
    """Rename or re-parent an organisation; a later sync keeps the edit."""
    changes = body.model_dump(exclude_none=True)
    with _audited(store, request, principal, "org-edit", [code]) as entry:
        org = store.edit_org(code, **changes)
        entry.message = json.dumps(changes, ensure_ascii=False)
    return OrgOut(**org)


# ------------------------------------------------------------------ persons and assignments
def _person_view(principal: Principal | None, row: dict[str, Any]) -> PersonOut:
    visible = allowed(
        principal, "read_personal", [row.get("micro_grid_code"), row.get("grid_code"), row.get("community_code")]
    )
    return PersonOut(**redact(row, visible))


@router.get("/people", response_model=PersonList)
def list_persons(
    store: StoreDep,
    principal: CurrentPrincipal,
    area: str | None = None,
    kind: str | None = None,
    member_kind: str | None = None,
    placed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> PersonList:
    """Persons (masked outside the caller's scope: surname only, phone partly hidden, no address)."""
    rows = store.persons(area=area, kind=kind, member_kind=member_kind, placed=placed, limit=limit, offset=offset)
    return PersonList(count=len(rows), persons=[_person_view(principal, r) for r in rows])


@router.post("/people", response_model=PersonOut, status_code=201, openapi_extra=request_body(PersonIn))
def add_person(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    response: Response,
    body: Annotated[PersonIn, body_of(PersonIn, "manage_people", "adding a person")],
) -> PersonOut:
    """Add a person placed by building code, address or work area; refused (422) when it cannot be placed."""
    row = store.person_row(**body.model_dump(exclude_none=True))
    if not row["placed"]:
        raise ValidationError(f"person {row['name'][0]}* cannot be placed: {row['unplaced_reason']}")
    people_require(
        principal, "manage_people", [row["micro_grid_code"], row["grid_code"], row["community_code"]], "adding a person"
    )
    with _audited(store, request, principal, "person-add", [row["community_code"]]) as entry:
        pid = store.add_persons([row])[0]
        entry.message = f"person {pid}"
        person = store.person(pid)
    response.headers["Location"] = f"/people/{pid}"
    return PersonOut(**person)


@router.get(
    "/people/coverage",
    response_model=None,
    responses=alternatives(CoverageOut, {"application/geo+json": FeatureCollection}),
)
def coverage(
    store: StoreDep, principal: CurrentPrincipal, area: str | None = None, format: Literal["json", "geojson"] = "json"
) -> Any:
    """Responsibility coverage (包栋/包单元…): the check, or (geojson) the buildings coloured by responsibility."""
    from gridgis.people.responsibility import coverage_layer
    from gridgis.people.service import coverage_report

    report = coverage_report(store, area)
    if format == "geojson":
        show = allowed(principal, "read_personal", [area] if area else [None])
        layer = coverage_layer(store.placer.city["buildings"], report.states, show_names=show)
        if area:
            layer = layer[layer["code"].isin(report.states.index)]
        return Response(layer.to_json(ensure_ascii=False, drop_id=True), media_type="application/geo+json")
    s = report.summary()
    return CoverageOut(
        buildings=s["buildings"],
        share_covered=s["share_covered"],
        states=s["states"],
        uncovered_buildings=report.uncovered_buildings,
        uncovered_units=report.uncovered_units,
        over_assigned=[
            o if allowed(principal, "read_personal", [None]) else {**o, "name": None} for o in report.over_assigned
        ],
        micro_grids_without_worker=report.micro_grids_without_worker,
        flagged_assignments=[
            f if allowed(principal, "read_personal", [None]) else {**f, "name": None} for f in report.flagged
        ],
    )


@router.get("/people/{person_id:int}", response_model=PersonOut)
def get_person(person_id: IdPath, store: StoreDep, principal: CurrentPrincipal) -> PersonOut:
    return _person_view(principal, store.person(person_id))


@router.post(
    "/people/assignments", response_model=AssignmentOut, status_code=201, openapi_extra=request_body(AssignmentIn)
)
def assign(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[AssignmentIn, body_of(AssignmentIn, "manage_people", "assigning responsibility")],
) -> AssignmentOut:
    """Make a person answer for a patch, building, unit, household or micro-grid (包片/包栋/包单元/包户)."""
    grid, community = store.target_place(body.level, body.target)
    people_require(principal, "manage_people", [grid, community], f"assigning {body.target}")
    with _audited(store, request, principal, "assign", [body.target, grid]) as entry:
        out = store.assign(body.person_id, body.level, body.target)
        entry.message = f"person {body.person_id} {body.level}"
    return AssignmentOut(**out)


@router.delete("/people/assignments/{assignment_id}", status_code=204)
def unassign(assignment_id: IdPath, request: Request, store: StoreDep, principal: CurrentPrincipal) -> Response:
    frame = store.assignments_frame()
    row = frame[frame["id"] == assignment_id]
    codes = [row["grid_code"].iloc[0], row["community_code"].iloc[0]] if len(row) else [None]
    people_require(principal, "manage_people", codes, f"removing assignment {assignment_id}")
    with _audited(store, request, principal, "unassign", [c for c in codes if c]) as entry:
        store.unassign(assignment_id)
        entry.message = f"assignment {assignment_id}"
    return Response(status_code=204)


@router.post(
    "/people/follow",
    response_model=FollowOut,
    openapi_extra=request_body(NoteIn, required=False, description="an optional note for the audit log"),
)
def follow(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[NoteIn | None, body_of(NoteIn, "manage_orgs", "following boundary changes", required=False)],
) -> FollowOut:
    """Re-run the boundary follow-up (every committed boundary write runs it already): re-place people by
    building; residents' assignments kept, grid workers' flagged."""
    with _audited(store, request, principal, "people-follow") as entry:
        report = store.follow_boundaries(placer=store.placer)  # get_people_store keeps it on the current generation
        entry.codes, entry.message = report["moved_buildings"], body.note if body else ""
    return FollowOut(**report)


# ------------------------------------------------------------------ wishes
def _wish_view(principal: Principal | None, w: dict[str, Any]) -> WishOut:
    visible = allowed(principal, "read_personal", [w.get("micro_grid_code"), w.get("grid_code")])
    return WishOut(**redact(w, visible))


@router.post("/wishes", response_model=WishOut, status_code=201, openapi_extra=request_body(WishIn))
def post_wish(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    response: Response,
    body: Annotated[WishIn, body_of(WishIn, "post_wish", "posting a wish", scoped=False)],
) -> WishOut:
    """A resident's small wish (居民点单), or a worker posting on a resident's behalf."""
    from gridgis.people.wishes import post_wish as post

    who = people_require(principal, "post_wish", [], "posting a wish")
    data = body.model_dump(exclude={"on_behalf_of_resident"})
    posted_by = f"{who.name}（代居民）" if body.on_behalf_of_resident else who.name
    with _audited(store, request, principal, "wish-post") as entry:
        wish = post(store, posted_by=posted_by, **data)
        entry.codes, entry.message = [wish["grid_code"]], f"wish {wish['id']}"
    response.headers["Location"] = f"/wishes/{wish['id']}"
    return _wish_view(principal, wish)


@router.get("/wishes", response_model=WishList)
def list_wishes(
    store: StoreDep,
    principal: CurrentPrincipal,
    area: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> WishList:
    from gridgis.people.wishes import list_wishes as ls

    rows = ls(store, area=area, status=status, limit=limit)
    return WishList(count=len(rows), wishes=[_wish_view(principal, w) for w in rows])


@router.get("/wishes/{wish_id}", response_model=WishOut)
def get_wish(wish_id: IdPath, store: StoreDep, principal: CurrentPrincipal, response: Response) -> WishOut:
    """One wish with its history (who, when, from, to)."""
    from gridgis.people.wishes import get_wish as get

    w = get(store, wish_id, with_events=True)
    response.headers["ETag"] = f'"{w["version"]}"'
    return _wish_view(principal, w)


@router.get("/wishes/{wish_id}/suggestions", response_model=SuggestionList)
def suggestions(
    wish_id: IdPath, store: StoreDep, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=50)] = 5
) -> SuggestionList:
    """The nearest available members and volunteers by estimated walking distance (straight line × detour factor)."""
    from gridgis.people.wishes import DETOUR_FACTOR, WALK_M_PER_MIN, suggest_claimers

    rows = suggest_claimers(store, wish_id, limit=limit)
    return SuggestionList(
        detour_factor=DETOUR_FACTOR,
        walk_m_per_min=WALK_M_PER_MIN,
        suggestions=[
            Suggestion(**redact(r, allowed(principal, "read_personal", [r["micro_grid_code"], r["grid_code"]])))
            for r in rows
        ],
    )


@router.post("/wishes/{wish_id}/transitions", response_model=WishOut, openapi_extra=request_body(WishTransitionIn))
def wish_transition(
    wish_id: IdPath,
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    response: Response,
    # every action needs at least the roles of posting (confirm, reject); handling ones are checked below
    body: Annotated[WishTransitionIn, body_of(WishTransitionIn, "post_wish", "moving a wish", scoped=False)],
    if_match: Annotated[str | None, Header()] = None,
) -> WishOut:
    """Dispatch (小区派单), claim (党员接单), release, fulfil, confirm (by the resident's channel), reject, cancel."""
    from gridgis.people.wishes import get_wish as get
    from gridgis.people.wishes import transition_wish

    current = get(store, wish_id)
    action = "post_wish" if body.action in ("confirm", "reject") else "handle_wishes"
    people_require(
        principal, action, [current["grid_code"]] if action == "handle_wishes" else [], f"{body.action} wish {wish_id}"
    )
    expected = body.expected_version
    if expected is None and if_match:
        try:
            expected = int(if_match.strip().removeprefix("W/").strip('"'))
        except ValueError:
            raise ValidationError(f'If-Match {if_match!r} is not a wish version such as "3"') from None
    with _audited(store, request, principal, f"wish-{body.action}", [current["grid_code"]]) as entry:
        w = transition_wish(
            store,
            wish_id,
            body.action,
            actor=principal.name if principal else "?",
            person_id=body.person_id,
            org_code=body.org_code,
            note=body.note,
            at=body.at,
            expected_version=expected,
        )
        entry.message = f"wish {wish_id}"
    response.headers["ETag"] = f'"{w["version"]}"'
    return _wish_view(principal, w)


# ------------------------------------------------------------------ points and assessment
def _frame_response(frame: Any, fmt: str, period: str, name: str) -> Any:
    if fmt == "csv":
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{period}.csv"'},
        )
    rows = json.loads(frame.to_json(orient="records", force_ascii=False))
    return TableOut(period=period, count=len(rows), rows=rows)


@router.get("/people/points", response_model=None, responses=alternatives(TableOut, {"text/csv": str}))
def points(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    period: Annotated[str, Query(description="YYYY-MM, YYYYQn, YYYYHn or YYYY")],
    org: str | None = None,
    area: str | None = None,
    format: Literal["json", "csv"] = "json",
    pseudonymise: bool = False,
) -> Any:
    """The star-points ledger of an organisation (and its sub-organisations) or area; an export, audited."""
    from gridgis.people.service import points_ledger

    scope = [store.org(org)["community_code"]] if org else [area]
    people_require(principal, "export", scope if any(scope) else [None], "exporting the points ledger")
    frame = points_ledger(store, period, org=org, area=area, pseudonymise=pseudonymise)
    _audit(store, request, principal, "export-points", [org or area], f"{period} {format} pseudonymised={pseudonymise}")
    return _frame_response(frame, format, period, "points")


@router.get(
    "/people/assessment",
    response_model=None,
    responses=alternatives(
        TableOut, {"text/csv": str, "application/geo+json": FeatureCollection, "image/svg+xml": str}
    ),
)
def assessment(
    store: StoreDep,
    principal: CurrentPrincipal,
    period: Annotated[str, Query(description="YYYY-MM, YYYYQn, YYYYHn (晾晒) or YYYY")],
    level: Literal["grid", "micro_grid"] = "grid",
    workers: bool = False,
    format: Literal["json", "csv", "geojson", "svg"] = "json",
) -> Any:
    """The four indices per grid (or worker); geojson for the map's colouring, svg for a chart."""
    from gridgis.people.assessment import chart_svg
    from gridgis.people.service import assessment_table

    if workers and not allowed(principal, "read_personal", [None]):
        people_require(principal, "read_personal", ["*"], "reading workers' assessments")
    frame = assessment_table(store, period, level=level, workers=workers)
    key = "worker" if workers else f"{level}_code"
    if format == "svg":
        return Response(chart_svg(frame, f"四个指数 {period}", key), media_type="image/svg+xml")
    if format == "geojson":
        layer = store.placer.city["grids" if level == "grid" else "micro_grids"][["code", "name", "geometry"]]
        merged = layer.merge(
            frame.rename(columns={f"{level}_code": "code"}).drop(columns=["community_code"], errors="ignore"),
            on="code",
            how="left",
        )
        return Response(merged.to_json(na="null", ensure_ascii=False, drop_id=True), media_type="application/geo+json")
    return _frame_response(frame, format, period, "assessment")


# ------------------------------------------------------------------ care
@router.get("/care", response_model=CareList)
def read_care(
    request: Request, store: StoreDep, principal: CurrentPrincipal, area: str | None = None, building: str | None = None
) -> CareList:
    """Care records the caller answers for (others withheld); every read is audited."""
    from gridgis.people.care import care_records, visible_care

    people_require(principal, "post_wish", [], "reading the care register")  # any token; rows are filtered below
    if not area and not building:
        raise ValidationError("give area or building: the care register is read per area or building")
    rows, withheld = visible_care(store, principal, care_records(store, area=area, building_code=building))
    _audit(
        store,
        request,
        principal,
        "read-care",
        sorted({r["building_code"] for r in rows}),
        f"{len(rows)} read, {withheld} withheld",
    )
    return CareList(count=len(rows), withheld=withheld, records=rows)


@router.post("/care", response_model=IdsOut, status_code=201, openapi_extra=request_body(CareIn))
def add_care(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[CareIn, body_of(CareIn, "read_care", "adding a care record")],
) -> IdsOut:
    from gridgis.people.care import add_care as add
    from gridgis.people.care import care_row

    row = care_row(store, **body.model_dump(exclude_none=True))
    people_require(principal, "read_care", [row["micro_grid_code"]], "adding a care record")
    with _audited(store, request, principal, "care-add", [row["building_code"]]) as entry:
        ids = add(store, [row])
        entry.message = f"care {ids[0]}"
    return IdsOut(ids=ids)


@router.post("/care/tasks", response_model=IdsOut, status_code=201, openapi_extra=request_body(TaskIn))
def add_tasks(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[TaskIn, body_of(TaskIn, "manage_people", "adding door-knocking tasks")],
) -> IdsOut:
    """Door-knocking tasks (敲门行动) for a micro-grid: one per building, or one for the micro-grid."""
    from gridgis.people.care import add_door_tasks

    people_require(principal, "manage_people", [body.micro_grid_code], "adding door-knocking tasks")
    with _audited(store, request, principal, "tasks-add", [body.micro_grid_code]) as entry:
        ids = add_door_tasks(store, body.micro_grid_code, body.title, body.per_building)
        entry.message = f"{len(ids)} tasks"
    return IdsOut(ids=ids)


@router.post("/care/tasks/{task_id}/done", **documented(DoorTaskOut), openapi_extra=request_body(TaskDoneIn))
def task_done(
    task_id: IdPath,
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[
        TaskDoneIn, body_of(TaskDoneIn, "manage_people", "completing a door-knocking task", path_scope=_task_scope)
    ],
) -> DoorTaskOut:
    from gridgis.people.care import complete_task

    with _audited(store, request, principal, "task-done") as entry:
        out = complete_task(store, task_id, by=principal.name if principal else "?", note=body.note)
        entry.codes, entry.message = [out["micro_grid_code"]], f"task {task_id}"
    return DoorTaskOut(**out)


@router.get("/care/tasks", response_model=TaskList)
def list_tasks(store: StoreDep, area: str | None = None) -> TaskList:
    """Door-knocking tasks and their completion per micro-grid (no personal data)."""
    from gridgis.people.care import door_tasks, task_progress

    tasks = door_tasks(store, area)
    return TaskList(tasks=tasks, progress=task_progress(tasks))


# ------------------------------------------------------------------ roster
@router.get(
    "/roster",
    response_model=None,
    responses=alternatives(
        Roster,
        {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": bytes,
            "text/html": str,
            "application/geo+json": FeatureCollection,
        },
    ),
)
async def roster(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    area: Annotated[str, Query(min_length=12, max_length=17)],
    kind: Literal["flood", "fire", "epidemic", "earthquake", "power", "general"] = "general",
    format: Literal["json", "xlsx", "html", "geojson"] = "json",
    pseudonymise: bool = False,
    all_members: bool = False,
) -> Any:
    """Emergency roster (平急转换) of an area: JSON, a workbook, a printable HTML map or the viewer's map layer
    (geojson: micro-grids with counts, worker and readiness); an export, audited."""
    from gridgis.people.service import export_roster

    people_require(principal, "export", [area], f"the roster of {area}")
    suffix = {"json": ".json", "xlsx": ".xlsx", "html": ".html", "geojson": ".geojson"}[format]
    fd, name = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    path = FilePath(name)
    try:
        await run_in_threadpool(
            export_roster,
            store,
            area,
            kind,
            path,
            pseudonymise=pseudonymise,
            all_members=all_members,
            principal=principal,
            method=request.method,
            path=request.url.path,
        )
        content = path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
    media = {
        "json": "application/json",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "html": "text/html; charset=utf-8",
        "geojson": "application/geo+json",
    }[format]
    headers = (
        {}
        if format in ("json", "geojson")
        else {"Content-Disposition": f'attachment; filename="roster-{area}-{kind}{suffix}"'}
    )
    return Response(content, media_type=media, headers=headers)


# ------------------------------------------------------------------ 12345 intake
@router.post("/intake/12345", response_model=IntakeOut, openapi_extra=request_body(IntakeIn))
async def intake_webhook(
    request: Request, store: StoreDep, x_gridgis_signature: Annotated[str | None, Header()] = None
) -> IntakeOut:
    """Pushed 12345 orders (one order or ``{"orders": [...]}``), authenticated by an HMAC-SHA256 signature of the body."""
    from gridgis.people.intake import intake_orders, verify_signature

    body = await read_body(request)
    secret = getattr(request.app.state, "intake_hmac_secret", None) or os.environ.get("GRIDGIS_INTAKE_HMAC_SECRET")
    try:
        verify_signature(secret, body, x_gridgis_signature)
    except Exception:
        store.audit(
            None, "intake-refused", [], "bad signature", method=request.method, path=request.url.path, status=401
        )
        raise
    data = parse_json(body, max_json_depth(request))
    orders = data.get("orders", [data]) if isinstance(data, dict) else data
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise ValidationError('send one order object or {"orders": [ … ]}')
    if len(orders) > 1000:
        raise ValidationError(f"{len(orders)} orders in one request; send at most 1,000")
    hotline = Principal("12345-webhook", "reporter", ())
    result = await run_in_threadpool(intake_orders, store, orders, None, "12345-webhook")
    store.audit(
        hotline,
        "intake-webhook",
        [],
        json.dumps({k: v for k, v in result.items() if k != "orders"}),
        method=request.method,
        path=request.url.path,
    )
    return IntakeOut(**result)


@router.get("/intake/queue", response_model=QueueOut)
def intake_queue(store: StoreDep, principal: CurrentPrincipal) -> QueueOut:
    """12345 orders waiting for a person to place them (addresses and phones: workers and admins only)."""
    from gridgis.people.intake import queue

    people_require(principal, "manage_people", [], "reading the 12345 queue")
    rows = queue(store)
    return QueueOut(count=len(rows), orders=rows)


@router.post("/intake/queue/{order_no}/resolve", **documented(Resolved), openapi_extra=request_body(ResolveIn))
def intake_resolve(
    order_no: str,
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    body: Annotated[ResolveIn, body_of(ResolveIn, "manage_people", "resolving a 12345 order")],
) -> Resolved:
    """A person places a queued order (building, address or point; matter if missing): it becomes a ticket.

    The ticket is created by the ticket store in its own transaction; the order's update and its audit
    entry follow (not yet one transaction with the ticket: a known gap of the intake path).
    """
    from gridgis.people.intake import resolve_queued

    out = resolve_queued(
        store, order_no, actor=principal.name if principal else "?", **body.model_dump(exclude_none=True)
    )
    _audit(store, request, principal, "intake-resolve", [order_no], f"ticket {out['ticket_id']}")
    return Resolved(**out)
