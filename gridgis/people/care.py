"""The care register (关爱台账) and door-knocking tasks (敲门行动、扫楼清底).

A care record is a vulnerable resident of a building/unit with their needs. Who may read it is
decided by :func:`gridgis.people.access.allowed` (``read_care``) *or* by being responsible for its
building/unit (:meth:`PeopleStore.responsible_accounts`); :func:`visible_care` applies both and the
caller audits every read (API and CLI do, naming the records' buildings).

Door-knocking tasks are per micro-grid (optionally per building); :func:`task_progress` gives the
completion per micro-grid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gridgis.codes import area_prefix
from gridgis.errors import NotFoundError, TransitionError, ValidationError
from gridgis.people import tables as T
from gridgis.people.access import allowed
from gridgis.people.model import CARE_CATEGORIES
from gridgis.people.placement import check_phone
from gridgis.people.store import PLACE_FIELDS, PeopleStore, _area_filter, _plain, now


def care_row(
    store: PeopleStore,
    *,
    resident: str,
    category: str,
    needs: str = "",
    phone: str | None = None,
    building_code: str | None = None,
    unit: int | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Validate and place one care record (refused when it cannot be placed: care must reach a building)."""
    if not resident or not resident.strip():
        raise ValidationError("a care record needs the resident's name")
    if category not in CARE_CATEGORIES:
        raise ValidationError(f"unknown care category {category!r}; use one of {', '.join(CARE_CATEGORIES)}")
    place = store.placer.place(building_code=building_code, address=address, unit=unit)
    if not place.placed or place.building_code is None:
        raise ValidationError(
            f"care record of {resident[0]}* cannot be placed in a building: {place.reason or 'no building'}"
        )
    at = now()
    return {
        "resident": resident.strip(),
        "phone": check_phone(phone),
        "category": category,
        "needs": needs or "",
        **{k: getattr(place, k) for k in PLACE_FIELDS},
        "created_at": at,
        "updated_at": at,
    }


def add_care(store: PeopleStore, rows: list[dict[str, Any]]) -> list[int]:
    """Store prepared care rows (:func:`care_row`) in one transaction; their ids."""
    with store._write("storing care records") as conn:
        ids: list[int] = []
        for start in range(0, len(rows), 2000):
            part = rows[start : start + 2000]
            ids += [
                int(i)
                for i in conn.execute(
                    T.care.insert().returning(T.care.c.id, sort_by_parameter_order=True), part
                ).scalars()
            ]
    return ids


def care_records(store: PeopleStore, area: str | None = None, building_code: str | None = None) -> list[dict[str, Any]]:
    """Care records under an area or of one building, unfiltered (callers filter with :func:`visible_care`)."""
    q = _area_filter(sa.select(T.care).order_by(T.care.c.id), T.care, area)
    if building_code:
        q = q.where(T.care.c.building_code == building_code)
    with store._read() as conn:
        return [_plain(r) for r in conn.execute(q).mappings()]


def visible_care(store: PeopleStore, principal: Any, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The records ``principal`` may read, and how many were withheld."""
    out, withheld = [], 0
    accounts_cache: dict[tuple[str, int | None], set[str]] = {}
    for r in records:
        ok = allowed(principal, "read_care", [r.get("micro_grid_code")])
        if not ok and principal is not None:
            key = (r["building_code"], r.get("unit"))
            if key not in accounts_cache:
                accounts_cache[key] = store.responsible_accounts(*key)
            ok = principal.name in accounts_cache[key]
        if ok:
            out.append(r)
        else:
            withheld += 1
    return out, withheld


# ---------------------------------------------------------------- door-knocking tasks
def add_door_tasks(store: PeopleStore, micro_grid: str, title: str, per_building: bool = True) -> list[int]:
    """Door-knocking tasks for a micro-grid: one per building in it (or one for the micro-grid)."""
    if not title.strip():
        raise ValidationError("a door-knocking task needs a title (e.g. 汛前敲门行动)")
    b = store.placer.buildings
    if micro_grid not in store.placer.micro_codes:
        raise ValidationError(f"micro-grid {micro_grid!r} is not in the micro-grids layer")
    codes = sorted(b.index[b["micro_grid_code"] == micro_grid]) if per_building else []
    at = now()
    rows = [
        {
            "micro_grid_code": micro_grid,
            "building_code": c,
            "title": title.strip(),
            "status": "open",
            "created_at": at,
            "note": "",
        }
        for c in (codes or [None])
    ]
    with store._write(f"adding door-knocking tasks in {micro_grid}") as conn:
        return [
            int(i)
            for i in conn.execute(
                T.door_tasks.insert().returning(T.door_tasks.c.id, sort_by_parameter_order=True), rows
            ).scalars()
        ]


def complete_task(
    store: PeopleStore, task_id: int, by: str, note: str = "", at: datetime | None = None
) -> dict[str, Any]:
    with store._write(f"completing task {task_id}") as conn:
        row = conn.execute(sa.select(T.door_tasks).where(T.door_tasks.c.id == int(task_id))).mappings().first()
        if row is None:
            raise NotFoundError(f"door-knocking task {task_id} does not exist")
        if row["status"] == "done":
            raise TransitionError(f"door-knocking task {task_id} is already done (by {row['done_by']})")
        conn.execute(
            T.door_tasks.update()
            .where(T.door_tasks.c.id == int(task_id))
            .values(status="done", done_at=at or now(), done_by=by, note=note)
        )
        row = conn.execute(sa.select(T.door_tasks).where(T.door_tasks.c.id == int(task_id))).mappings().first()
    return _plain(row)


def door_tasks(store: PeopleStore, area: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(T.door_tasks).order_by(T.door_tasks.c.id)
    if area:
        q = q.where(T.door_tasks.c.micro_grid_code.startswith(area_prefix(area)))
    with store._read() as conn:
        return [_plain(r) for r in conn.execute(q).mappings()]


def task_progress(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completion per micro-grid: tasks, done, share."""
    per: dict[str, list[int]] = {}
    for t in tasks:
        c = per.setdefault(t["micro_grid_code"], [0, 0])
        c[0] += 1
        c[1] += t["status"] == "done"
    return [
        {"micro_grid_code": m, "tasks": n, "done": d, "share_done": round(d / n, 4)}
        for m, (n, d) in sorted(per.items())
    ]


__all__ = [
    "add_care",
    "add_door_tasks",
    "care_records",
    "care_row",
    "complete_task",
    "door_tasks",
    "task_progress",
    "visible_care",
]
