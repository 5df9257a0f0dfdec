"""Residents' small wishes (微心愿): "居民点单、小区派单、党员接单".

States and the actions between them (the one rule, :data:`TRANSITIONS`):

============ ========== =====================================================
from         action     to
============ ========== =====================================================
posted       dispatch   dispatched  (to the compound's party organisation)
dispatched   claim      claimed     (by a member or volunteer; nearest suggested)
claimed      release    dispatched  (the claimer gives it back)
claimed      fulfil     fulfilled
fulfilled    confirm    confirmed   (the resident confirms; the claimer earns points)
fulfilled    reject     claimed     (the resident says it is not done)
posted, dispatched, claimed  cancel  cancelled
============ ========== =====================================================

Every action is one transaction appending an event (who, when, from, to, note), like tickets;
``expected_version`` gives optimistic locking. Walking distance for suggestions is the straight
line in the CGCS2000 Gauss-Krüger zone of the wish times :data:`DETOUR_FACTOR` (no street network
is stored; 1.3 is a common planning ratio of network to straight-line distance in grid-like
Chinese residential areas), walking at :data:`WALK_M_PER_MIN` (60 m/min, DOMAIN.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from gridgis.codes import area_of
from gridgis.errors import NotFoundError, PreconditionFailedError, TransitionError, ValidationError
from gridgis.people import tables as T
from gridgis.people.store import PLACE_FIELDS, PeopleStore, _plain, now

STATUSES = ("posted", "dispatched", "claimed", "fulfilled", "confirmed", "cancelled")
STATUS_LABELS = {
    "posted": "居民点单",
    "dispatched": "小区派单",
    "claimed": "党员接单",
    "fulfilled": "已完成",
    "confirmed": "居民确认",
    "cancelled": "已撤销",
}
TRANSITIONS: dict[tuple[str, str], str] = {
    ("posted", "dispatch"): "dispatched",
    ("dispatched", "claim"): "claimed",
    ("claimed", "release"): "dispatched",
    ("claimed", "fulfil"): "fulfilled",
    ("fulfilled", "confirm"): "confirmed",
    ("fulfilled", "reject"): "claimed",
    ("posted", "cancel"): "cancelled",
    ("dispatched", "cancel"): "cancelled",
    ("claimed", "cancel"): "cancelled",
}
ACTIONS = tuple(sorted({a for _, a in TRANSITIONS}))
DETOUR_FACTOR = 1.3
WALK_M_PER_MIN = 60.0
CLAIMER_KINDS = ("member", "volunteer")


def next_status(status: str, action: str) -> str:
    """The status after ``action``; :class:`TransitionError` (409) naming both when not allowed.

    >>> next_status("posted", "dispatch")
    'dispatched'
    """
    if action not in ACTIONS:
        raise ValidationError(f"unknown wish action {action!r}; use one of {', '.join(ACTIONS)}")
    to = TRANSITIONS.get((status, action))
    if to is None:
        allowed = [a for (s, a) in TRANSITIONS if s == status]
        raise TransitionError(
            f"a wish that is {status} ({STATUS_LABELS.get(status, status)}) cannot {action}; "
            f"allowed: {', '.join(allowed) or 'nothing (final)'}"
        )
    return to


def post_wish(
    store: PeopleStore,
    *,
    title: str,
    description: str = "",
    resident: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    building_code: str | None = None,
    unit: int | None = None,
    lon: float | None = None,
    lat: float | None = None,
    channel: str = "api",
    posted_by: str = "resident",
    at: datetime | None = None,
) -> dict[str, Any]:
    """Post a wish placed by building, address or point; refused (nothing stored) when it cannot be placed."""
    from gridgis.people.placement import check_phone

    if not title or not title.strip():
        raise ValidationError("a wish needs a title (e.g. 帮忙更换楼道灯泡)")
    if lon is not None and lat is not None and not building_code and not address:
        place = store.placer.route_point(lon, lat)
    else:
        place = store.placer.place(building_code=building_code, address=address, unit=unit)
    if not place.placed:
        raise ValidationError(
            f"wish {title!r} cannot be placed: {place.reason}; give a building code or a fuller address"
        )
    at = at or now()
    with store._write("posting a wish") as conn:
        org = _org_for(conn, place.compound_code, place.grid_code, place.building_code)
        values = {
            "status": "posted",
            "title": title.strip(),
            "description": description or "",
            "resident": resident,
            "phone": check_phone(phone),
            "address": address,
            "channel": channel,
            "posted_by": posted_by,
            **{k: getattr(place, k) for k in PLACE_FIELDS},
            "org_code": org,
            "created_at": at,
            "updated_at": at,
            "version": 1,
        }
        wid = int(conn.execute(T.wishes.insert().values(**values).returning(T.wishes.c.id)).scalar_one())
        _event(conn, wid, "post", None, "posted", posted_by, at, "")
    return get_wish(store, wid)


def _org_for(conn: Any, compound: str | None, grid: str | None, building: str | None) -> str | None:
    """The organisation a wish is dispatched to: the branch covering its compound (and grid), else the committee."""
    rows = conn.execute(
        sa.select(T.orgs.c.code, T.orgs.c.kind, T.orgs.c.compounds, T.orgs.c.grids, T.orgs.c.community_code).where(
            T.orgs.c.kind.in_(
                [
                    "merged_branch",
                    "compound_branch",
                    "compound_group",
                    "grid_branch",
                    "compound_general_branch",
                    "grid_general_branch",
                ]
            ),
            T.orgs.c.community_code == (area_of(grid) if grid else None),
        )
    ).all()
    best = None
    for r in rows:
        score = (compound in (r.compounds or [])) * 2 + (grid in (r.grids or []))
        if score and (best is None or score > best[0]):
            best = (score, r.code)
    if best:
        return best[1]
    if grid:
        org = f"ORG-{area_of(grid)}"
        return org if conn.execute(sa.select(T.orgs.c.id).where(T.orgs.c.code == org)).first() else None
    return None


def _event(conn: Any, wish_id: int, action: str, frm: str | None, to: str, actor: str, at: datetime, note: str) -> None:
    seq = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(T.wish_events.c.seq), 0)).where(T.wish_events.c.wish_id == wish_id)
    ).scalar_one()
    conn.execute(
        T.wish_events.insert().values(
            wish_id=wish_id,
            seq=int(seq) + 1,
            action=action,
            from_status=frm,
            to_status=to,
            actor=actor,
            at=at,
            note=note,
        )
    )


def get_wish(store: PeopleStore, wish_id: int, with_events: bool = False) -> dict[str, Any]:
    with store._read() as conn:
        row = conn.execute(sa.select(T.wishes).where(T.wishes.c.id == int(wish_id))).mappings().first()
        if row is None:
            raise NotFoundError(f"wish {wish_id} does not exist")
        out = _plain(row)
        out["status_label"] = STATUS_LABELS[out["status"]]
        if with_events:
            evs = conn.execute(
                sa.select(T.wish_events).where(T.wish_events.c.wish_id == int(wish_id)).order_by(T.wish_events.c.seq)
            ).mappings()
            out["events"] = [_plain(e) for e in evs]
    return out


def list_wishes(
    store: PeopleStore, area: str | None = None, status: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    from gridgis.people.store import _area_filter

    q = _area_filter(sa.select(T.wishes).order_by(T.wishes.c.id.desc()), T.wishes, area)
    if status:
        q = q.where(T.wishes.c.status == status)
    with store._read() as conn:
        rows = [_plain(r) for r in conn.execute(q.limit(limit)).mappings()]
    for r in rows:
        r["status_label"] = STATUS_LABELS[r["status"]]
    return rows


def transition_wish(
    store: PeopleStore,
    wish_id: int,
    action: str,
    *,
    actor: str,
    person_id: int | None = None,
    org_code: str | None = None,
    note: str = "",
    at: datetime | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Apply one action (see :data:`TRANSITIONS`) in one transaction; a confirm records the claimer's activity."""
    at = at or now()
    with store._write(f"moving wish {wish_id}") as conn:
        q = sa.select(T.wishes).where(T.wishes.c.id == int(wish_id))
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFoundError(f"wish {wish_id} does not exist")
        if expected_version is not None and int(row["version"]) != int(expected_version):
            raise PreconditionFailedError(
                f"wish {wish_id} is at version {row['version']}, not {expected_version}; re-read it and retry"
            )
        to = next_status(row["status"], action)
        values: dict[str, Any] = {"status": to, "updated_at": at, "version": int(row["version"]) + 1}
        if action == "dispatch":
            if org_code:
                if conn.execute(sa.select(T.orgs.c.id).where(T.orgs.c.code == org_code)).first() is None:
                    raise NotFoundError(f"organisation {org_code} does not exist")
                values["org_code"] = org_code
        elif action == "claim":
            if person_id is None:
                raise ValidationError(f"claiming wish {wish_id} needs person_id (the member who takes it)")
            who = conn.execute(
                sa.select(T.persons.c.kind, T.persons.c.name).where(T.persons.c.id == int(person_id))
            ).first()
            if who is None:
                raise NotFoundError(f"person {person_id} does not exist")
            if who.kind not in CLAIMER_KINDS:
                raise ValidationError(
                    f"person {person_id} is a {who.kind}; wishes are claimed by members and volunteers"
                )
            values["claimed_by"] = int(person_id)
        elif action == "release":
            values["claimed_by"] = None
        elif action == "confirm" and row["claimed_by"] is not None:
            conn.execute(
                T.activities.insert().values(
                    person_id=int(row["claimed_by"]),
                    item="wish_fulfilled",
                    at=at,
                    quantity=1,
                    ref=f"wish:{wish_id}",
                    note="",
                )
            )
        conn.execute(T.wishes.update().where(T.wishes.c.id == int(wish_id)).values(**values))
        _event(conn, int(wish_id), action, row["status"], to, actor, at, note)
    return get_wish(store, wish_id)


def suggest_claimers(
    store: PeopleStore, wish_id: int, limit: int = 5, detour: float = DETOUR_FACTOR
) -> list[dict[str, Any]]:
    """The nearest available members and volunteers of the wish's community, by estimated walking distance."""
    from pyproj import Transformer

    from gridgis.crs import gauss_kruger_epsg

    wish = get_wish(store, wish_id)
    q = sa.select(
        T.persons.c.id,
        T.persons.c.name,
        T.persons.c.kind,
        T.persons.c.member_kind,
        T.persons.c.phone,
        T.persons.c.building_code,
        T.persons.c.lon,
        T.persons.c.lat,
        T.persons.c.micro_grid_code,
        T.persons.c.grid_code,
        T.persons.c.community_code,
    ).where(
        T.persons.c.kind.in_(CLAIMER_KINDS),
        T.persons.c.available.is_(True),
        T.persons.c.placed.is_(True),
        T.persons.c.community_code == wish["community_code"],
    )
    with store._read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    if not rows or wish["lon"] is None:
        return []
    tr = Transformer.from_crs(4326, gauss_kruger_epsg(wish["lon"]), always_xy=True)
    x0, y0 = tr.transform(wish["lon"], wish["lat"])
    xs, ys = tr.transform(np.array([r["lon"] for r in rows]), np.array([r["lat"] for r in rows]))
    walk = np.hypot(np.asarray(xs) - x0, np.asarray(ys) - y0) * detour
    order = np.argsort(walk, kind="stable")[:limit]
    out = []
    for i in order:
        r = rows[int(i)]
        r["walk_m"] = round(float(walk[i]), 1)
        r["walk_min"] = round(float(walk[i]) / WALK_M_PER_MIN, 1)
        out.append(r)
    return out


__all__ = [
    "ACTIONS",
    "DETOUR_FACTOR",
    "STATUSES",
    "STATUS_LABELS",
    "TRANSITIONS",
    "get_wish",
    "list_wishes",
    "next_status",
    "post_wish",
    "suggest_claimers",
    "transition_wish",
]
