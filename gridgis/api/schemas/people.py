"""Request and response models of the people area (``gridgis/api/routes/people.py``): the one place
they are declared. Request bodies forbid unknown members; answers may carry more than declared."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from gridgis.api.schemas.common import Open

MAX_ID = 2**53  # ids fit a JSON number and a 64-bit column
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


class DoorTaskOut(Open):
    """A door-knocking task (敲门行动) after it was marked done."""

    id: int
    micro_grid_code: str
    building_code: str | None = None
    status: str
    done_by: str | None = None


class Resolved(Open):
    """A queued 12345 order placed by a person: now a ticket."""

    order_no: str
    status: str
    ticket_id: int | None = None


class Roster(Open):
    """An emergency roster (平急转换) of an area: per micro-grid, its worker and members."""

    area: str
    kind: str
    kind_label: str | None = None
    summary: dict[str, Any] | None = None
    micro_grids: list[dict[str, Any]]


class IntakeOrder(Open):
    """One 12345 hotline work order (工单), as the hotline platform sends it."""

    order_no: str
    called_at: str | None = None
    content: str | None = None
    category: str | None = None
    address: str | None = None
    phone: str | None = None
    lon: float | None = None
    lat: float | None = None


class IntakeBatch(Open):
    orders: list[IntakeOrder]


class IntakeIn(RootModel[IntakeOrder | IntakeBatch | list[IntakeOrder]]):
    """One order, ``{"orders": [...]}`` or a list of orders; signed with ``X-Gridgis-Signature``."""


class OrgOut(Open):
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


class PersonOut(Open):
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
    flagged_assignments: list[dict[str, Any]] = Field(
        default_factory=list, description="assignments a boundary change left pointing elsewhere (they cover nothing)"
    )


class FollowOut(BaseModel):
    moved_buildings: list[str]
    persons_replaced: int
    assignments_kept: list[dict[str, Any]]
    assignments_flagged: list[dict[str, Any]]
    uncovered_buildings: list[str] = Field(default_factory=list, description="moved buildings nobody answers for now")


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


class WishOut(Open):
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


class Suggestion(Open):
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


class NoteIn(BaseModel):
    """An optional note on a write without other input (recorded in the audit log)."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=500)


class QueueOut(BaseModel):
    count: int
    orders: list[dict[str, Any]]
