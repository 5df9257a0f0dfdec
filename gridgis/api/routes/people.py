"""API routes of the people area: organisations, persons, assignments, coverage, wishes, points, assessment,
care, the emergency roster and 12345 intake. Thin: parse (pydantic), check access, call gridgis.people, audit.

Access rules: :mod:`gridgis.people.access` (personal data masked for roles and scopes that do not need it;
care records only to those responsible; every care read and every export audited).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from gridgis.auth.deps import CurrentPrincipal
from gridgis.auth.tokens import Principal
from gridgis.errors import MalformedInputError, ValidationError
from gridgis.people.access import allowed, people_require, redact
from gridgis.people.store import PeopleStore

router = APIRouter(tags=["people"])

MAX_ID = 2**53  # ids fit a JSON number and a 64-bit column
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


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
    store.audit(principal, action, codes, message, method=request.method, path=request.url.path)


# ------------------------------------------------------------------ models
class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class OrgOut(Out):
    code: str
    kind: str
    name: str
    parent_code: str | None = None
    community_code: str | None = None
    source: str | None = None


class OrgList(BaseModel):
    count: int
    organisations: list[OrgOut]


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[
        "central_household", "cobuilding_unit", "building_group", "compound_branch", "grid_branch", "merged_branch"
    ]
    name: str = Field(min_length=1, max_length=200)
    parent_code: str | None = Field(None, max_length=80)
    communities: list[str] = Field(default_factory=list, description="co-building units: the paired communities")
    building_code: str | None = Field(None, max_length=64)
    properties: dict[str, Any] | None = None


class OrgPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    parent_code: str | None = Field(None, max_length=80)
    properties: dict[str, Any] | None = None


class SyncOut(BaseModel):
    created: int
    updated: int
    stale: int


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    category: str = Field("党员", description="直管/流动/在职/离退休, 志愿者, 网格员 … (or kind codes)")
    phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)
    building_code: str | None = Field(None, max_length=64)
    unit: int | None = Field(None, ge=1, le=99)
    employer: str | None = Field(None, max_length=200)
    post: str | None = Field(None, max_length=200)
    org_code: str | None = Field(None, max_length=80)
    account: str | None = Field(None, max_length=200, description="token name of this person, for care visibility")
    work_area: str | None = Field(None, max_length=32)
    ref: str | None = Field(None, max_length=64)


class PersonOut(Out):
    id: int
    name: str | None
    kind: str
    member_kind: str | None = None
    placed: bool
    building_code: str | None = None
    micro_grid_code: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    unplaced_reason: str | None = None


class PersonList(BaseModel):
    count: int
    persons: list[PersonOut]


class AssignmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: int = Field(ge=1, le=MAX_ID)
    level: Literal["patch", "building", "unit", "household", "micro_grid"]
    target: str = Field(
        min_length=1, max_length=80, description="grid/community, building code, <building>-U<n>, micro-grid"
    )


class AssignmentOut(BaseModel):
    id: int
    person_id: int
    level: str
    target: str
    grid_code: str | None


class CoverageOut(BaseModel):
    buildings: int
    share_covered: float
    states: dict[str, int]
    uncovered_buildings: list[str]
    uncovered_units: list[str]
    over_assigned: list[dict[str, Any]]
    micro_grids_without_worker: list[str]


class FollowOut(BaseModel):
    moved_buildings: list[str]
    persons_replaced: int
    assignments_kept: list[dict[str, Any]]
    assignments_flagged: list[dict[str, Any]]


class WishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    resident: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)
    building_code: str | None = Field(None, max_length=64)
    unit: int | None = Field(None, ge=1, le=99)
    lon: Lon | None = None
    lat: Lat | None = None
    channel: str = Field("api", max_length=32)
    on_behalf_of_resident: bool = Field(False, description="a worker posting for a resident (代居民点单)")


class WishTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["dispatch", "claim", "release", "fulfil", "confirm", "reject", "cancel"]
    person_id: int | None = Field(None, ge=1, le=MAX_ID)
    org_code: str | None = Field(None, max_length=80)
    note: str = Field("", max_length=2000)
    at: datetime | None = None
    expected_version: int | None = Field(None, ge=1, le=MAX_ID)


class WishOut(Out):
    id: int
    status: str
    status_label: str
    title: str
    org_code: str | None = None
    claimed_by: int | None = None
    version: int


class WishList(BaseModel):
    count: int
    wishes: list[WishOut]


class Suggestion(Out):
    id: int
    name: str | None
    walk_m: float
    walk_min: float


class SuggestionList(BaseModel):
    detour_factor: float
    walk_m_per_min: float
    suggestions: list[Suggestion]


class TableOut(BaseModel):
    period: str
    count: int
    rows: list[dict[str, Any]]


class CareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resident: str = Field(min_length=1, max_length=100)
    category: Literal["elderly_alone", "difficulty", "limited_mobility", "disabled", "left_behind", "other"]
    needs: str = Field("", max_length=1000)
    phone: str | None = Field(None, max_length=40)
    building_code: str | None = Field(None, max_length=64)
    unit: int | None = Field(None, ge=1, le=99)
    address: str | None = Field(None, max_length=200)


class CareList(BaseModel):
    count: int
    withheld: int
    records: list[dict[str, Any]]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    micro_grid_code: str = Field(min_length=17, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    per_building: bool = True


class TaskDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=1000)


class TaskList(BaseModel):
    tasks: list[dict[str, Any]]
    progress: list[dict[str, Any]]


class IdsOut(BaseModel):
    ids: list[int]


class IntakeOut(BaseModel):
    ticketed: int
    queued: int
    skipped: int
    rejected: int
    orders: dict[str, list[dict[str, Any]]]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    building_code: str | None = Field(None, max_length=64)
    address: str | None = Field(None, max_length=200)
    lon: Lon | None = None
    lat: Lat | None = None
    matter_code: str | None = Field(None, max_length=8)


class QueueOut(BaseModel):
    count: int
    orders: list[dict[str, Any]]


# ------------------------------------------------------------------ organisations
@router.get("/people/orgs", response_model=OrgList)
def list_orgs(store: StoreDep, community: str | None = None, kind: str | None = None) -> OrgList:
    """The party organisation network (street working committee → … → central household) and co-building units."""
    rows = store.orgs(community=community, kind=kind)
    return OrgList(count=len(rows), organisations=[OrgOut(**r) for r in rows])


@router.post("/people/orgs/sync", response_model=SyncOut)
def sync_orgs(request: Request, store: StoreDep, principal: CurrentPrincipal) -> SyncOut:
    """Persist the alignment's party tree (admin: it touches every community)."""
    people_require(
        principal, "manage_orgs", ["*"] if principal and principal.role != "admin" else [], "syncing organisations"
    )
    counts = store.sync_orgs()
    _audit(store, request, principal, "orgs-sync", [], json.dumps(counts))
    return SyncOut(**counts)


@router.post("/people/orgs", response_model=OrgOut, status_code=201)
def add_org(body: OrgIn, request: Request, store: StoreDep, principal: CurrentPrincipal) -> OrgOut:
    """Add a central household (under a building group) or a co-building unit paired with communities."""
    scope = [store.org(body.parent_code)["community_code"]] if body.parent_code else list(body.communities)
    people_require(principal, "manage_orgs", scope or [None], f"adding organisation {body.name}")
    org = store.add_org(
        body.kind,
        body.name,
        body.parent_code,
        communities=body.communities,
        building_code=body.building_code,
        properties=body.properties,
    )
    _audit(store, request, principal, "org-add", [org["code"], org["community_code"]], body.name)
    return OrgOut(**org)


@router.patch("/people/orgs/{code}", response_model=OrgOut)
def edit_org(code: str, body: OrgPatch, request: Request, store: StoreDep, principal: CurrentPrincipal) -> OrgOut:
    """Rename or re-parent an organisation; a later sync keeps the edit."""
    people_require(principal, "manage_orgs", [store.org(code)["community_code"]], f"editing organisation {code}")
    org = store.edit_org(code, **body.model_dump(exclude_none=True))
    _audit(
        store,
        request,
        principal,
        "org-edit",
        [code],
        json.dumps(body.model_dump(exclude_none=True), ensure_ascii=False),
    )
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


@router.post("/people", response_model=PersonOut, status_code=201)
def add_person(
    body: PersonIn, request: Request, store: StoreDep, principal: CurrentPrincipal, response: Response
) -> PersonOut:
    """Add a person placed by building code, address or work area; refused (422) when it cannot be placed."""
    people_require(principal, "manage_people", [], "adding a person")
    row = store.person_row(**body.model_dump(exclude_none=True))
    if not row["placed"]:
        raise ValidationError(f"person {row['name'][0]}* cannot be placed: {row['unplaced_reason']}")
    people_require(
        principal, "manage_people", [row["micro_grid_code"], row["grid_code"], row["community_code"]], "adding a person"
    )
    pid = store.add_persons([row])[0]
    _audit(store, request, principal, "person-add", [row["community_code"]], f"person {pid}")
    response.headers["Location"] = f"/people/{pid}"
    return PersonOut(**store.person(pid))


@router.get("/people/coverage", response_model=None)
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
    )


@router.get("/people/{person_id:int}", response_model=PersonOut)
def get_person(person_id: IdPath, store: StoreDep, principal: CurrentPrincipal) -> PersonOut:
    return _person_view(principal, store.person(person_id))


@router.post("/people/assignments", response_model=AssignmentOut, status_code=201)
def assign(body: AssignmentIn, request: Request, store: StoreDep, principal: CurrentPrincipal) -> AssignmentOut:
    """Make a person answer for a patch, building, unit, household or micro-grid (包片/包栋/包单元/包户)."""
    grid, community = store.target_place(body.level, body.target)
    people_require(principal, "manage_people", [grid, community], f"assigning {body.target}")
    out = store.assign(body.person_id, body.level, body.target)
    _audit(store, request, principal, "assign", [body.target, grid], f"person {body.person_id} {body.level}")
    return AssignmentOut(**out)


@router.delete("/people/assignments/{assignment_id}", status_code=204)
def unassign(assignment_id: IdPath, request: Request, store: StoreDep, principal: CurrentPrincipal) -> Response:
    frame = store.assignments_frame()
    row = frame[frame["id"] == assignment_id]
    codes = [row["grid_code"].iloc[0], row["community_code"].iloc[0]] if len(row) else [None]
    people_require(principal, "manage_people", codes, f"removing assignment {assignment_id}")
    store.unassign(assignment_id)
    _audit(store, request, principal, "unassign", [c for c in codes if c], f"assignment {assignment_id}")
    return Response(status_code=204)


@router.post("/people/follow", response_model=FollowOut)
def follow(request: Request, store: StoreDep, principal: CurrentPrincipal) -> FollowOut:
    """After boundary edits: re-place people by building; residents' assignments kept, grid workers' flagged."""
    people_require(principal, "manage_orgs", [], "following boundary changes")
    report = store.follow_boundaries()
    _audit(store, request, principal, "people-follow", report["moved_buildings"], "")
    return FollowOut(**report)


# ------------------------------------------------------------------ wishes
def _wish_view(principal: Principal | None, w: dict[str, Any]) -> WishOut:
    visible = allowed(principal, "read_personal", [w.get("micro_grid_code"), w.get("grid_code")])
    return WishOut(**redact(w, visible))


@router.post("/wishes", response_model=WishOut, status_code=201)
def post_wish(
    body: WishIn, request: Request, store: StoreDep, principal: CurrentPrincipal, response: Response
) -> WishOut:
    """A resident's small wish (居民点单), or a worker posting on a resident's behalf."""
    from gridgis.people.wishes import post_wish as post

    who = people_require(principal, "post_wish", [], "posting a wish")
    data = body.model_dump(exclude={"on_behalf_of_resident"})
    posted_by = f"{who.name}（代居民）" if body.on_behalf_of_resident else who.name
    wish = post(store, posted_by=posted_by, **data)
    _audit(store, request, principal, "wish-post", [wish["grid_code"]], f"wish {wish['id']}")
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


@router.post("/wishes/{wish_id}/transitions", response_model=WishOut)
def wish_transition(
    wish_id: IdPath,
    body: WishTransitionIn,
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    response: Response,
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
    _audit(store, request, principal, f"wish-{body.action}", [current["grid_code"]], f"wish {wish_id}")
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


@router.get("/people/points", response_model=None)
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


@router.get("/people/assessment", response_model=None)
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


@router.post("/care", response_model=IdsOut, status_code=201)
def add_care(body: CareIn, request: Request, store: StoreDep, principal: CurrentPrincipal) -> IdsOut:
    from gridgis.people.care import add_care as add
    from gridgis.people.care import care_row

    row = care_row(store, **body.model_dump(exclude_none=True))
    people_require(principal, "read_care", [row["micro_grid_code"]], "adding a care record")
    ids = add(store, [row])
    _audit(store, request, principal, "care-add", [row["building_code"]], f"care {ids[0]}")
    return IdsOut(ids=ids)


@router.post("/care/tasks", response_model=IdsOut, status_code=201)
def add_tasks(body: TaskIn, request: Request, store: StoreDep, principal: CurrentPrincipal) -> IdsOut:
    """Door-knocking tasks (敲门行动) for a micro-grid: one per building, or one for the micro-grid."""
    from gridgis.people.care import add_door_tasks

    people_require(principal, "manage_people", [body.micro_grid_code], "adding door-knocking tasks")
    ids = add_door_tasks(store, body.micro_grid_code, body.title, body.per_building)
    _audit(store, request, principal, "tasks-add", [body.micro_grid_code], f"{len(ids)} tasks")
    return IdsOut(ids=ids)


@router.post("/care/tasks/{task_id}/done", response_model=dict[str, Any])
def task_done(
    task_id: IdPath, body: TaskDoneIn, request: Request, store: StoreDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    from gridgis.people.care import complete_task, door_tasks

    task = next((t for t in door_tasks(store) if t["id"] == task_id), None)
    people_require(
        principal, "manage_people", [task["micro_grid_code"] if task else None], f"completing task {task_id}"
    )
    out = complete_task(store, task_id, by=principal.name if principal else "?", note=body.note)
    _audit(store, request, principal, "task-done", [out["micro_grid_code"]], f"task {task_id}")
    return out


@router.get("/care/tasks", response_model=TaskList)
def list_tasks(store: StoreDep, area: str | None = None) -> TaskList:
    """Door-knocking tasks and their completion per micro-grid (no personal data)."""
    from gridgis.people.care import door_tasks, task_progress

    tasks = door_tasks(store, area)
    return TaskList(tasks=tasks, progress=task_progress(tasks))


# ------------------------------------------------------------------ roster
@router.get("/roster", response_model=None)
async def roster(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    area: Annotated[str, Query(min_length=12, max_length=17)],
    kind: Literal["flood", "fire", "epidemic", "earthquake", "power", "general"] = "general",
    format: Literal["json", "xlsx", "html"] = "json",
    pseudonymise: bool = False,
    all_members: bool = False,
) -> Any:
    """Emergency roster (平急转换) of an area: JSON, a workbook or a printable HTML map; an export, audited."""
    from gridgis.people.service import export_roster

    people_require(principal, "export", [area], f"the roster of {area}")
    suffix = {"json": ".json", "xlsx": ".xlsx", "html": ".html"}[format]
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
    }[format]
    headers = (
        {} if format == "json" else {"Content-Disposition": f'attachment; filename="roster-{area}-{kind}{suffix}"'}
    )
    return Response(content, media_type=media, headers=headers)


# ------------------------------------------------------------------ 12345 intake
@router.post("/intake/12345", response_model=IntakeOut)
async def intake_webhook(
    request: Request, store: StoreDep, x_gridgis_signature: Annotated[str | None, Header()] = None
) -> IntakeOut:
    """Pushed 12345 orders (one order or ``{"orders": [...]}``), authenticated by an HMAC-SHA256 signature of the body."""
    from gridgis.people.intake import intake_orders, verify_signature

    body = await request.body()
    secret = getattr(request.app.state, "intake_hmac_secret", None) or os.environ.get("GRIDGIS_INTAKE_HMAC_SECRET")
    try:
        verify_signature(secret, body, x_gridgis_signature)
    except Exception:
        store.audit(
            None, "intake-refused", [], "bad signature", method=request.method, path=request.url.path, status=401
        )
        raise
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedInputError(f"the body is not UTF-8 JSON: {err}") from None
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


@router.post("/intake/queue/{order_no}/resolve", response_model=dict[str, Any])
def intake_resolve(
    order_no: str, body: ResolveIn, request: Request, store: StoreDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A person places a queued order (building, address or point; matter if missing): it becomes a ticket."""
    from gridgis.people.intake import resolve_queued

    people_require(principal, "manage_people", [], f"resolving 12345 order {order_no}")
    out = resolve_queued(
        store, order_no, actor=principal.name if principal else "?", **body.model_dump(exclude_none=True)
    )
    _audit(store, request, principal, "intake-resolve", [order_no], f"ticket {out['ticket_id']}")
    return out
