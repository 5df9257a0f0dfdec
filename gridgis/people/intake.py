"""12345 hotline intake: work orders → tickets, idempotent on the order number, never lost.

For each order (:func:`order_from_record` reads the hotline's usual columns 工单编号, 来电时间,
诉求内容, 诉求地址, 联系电话, 类别):

1. an order number already stored is skipped (re-importing or a re-sent webhook adds nothing);
2. the category is mapped to the matter catalogue: :data:`CATEGORY_MATTERS` (the hotline's usual
   category words), else the catalogue's keyword guess over category + content;
3. the address is placed by the one placement rule (:class:`gridgis.people.placement.Placer`: address
   routing with a confidence); coordinates in the order (经度/纬度, WGS84) are used when present;
4. placed and mapped → a ticket (channel ``12345``, ``external_id`` = order number) and the order is
   ``ticketed``; otherwise the order is stored ``queued`` with the reason, for a person to resolve
   with :func:`resolve_queued` (giving a building, an address or a point, and the matter if missing).

The webhook (``POST /intake/12345``) authenticates pushed orders with an HMAC-SHA256 signature of the
raw body: header ``X-Gridgis-Signature: sha256=<hex>`` with the shared secret (:func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from gridgis.errors import AuthError, GridGISError, NotFoundError, TransitionError, ValidationError
from gridgis.people import tables as T
from gridgis.people.importer import ORDER_HEADERS
from gridgis.people.store import PeopleStore, _plain, now

SHANGHAI = ZoneInfo("Asia/Shanghai")
SIGNATURE_HEADER = "X-Gridgis-Signature"

#: the hotline's usual category words → matter codes of the default catalogue
CATEGORY_MATTERS: dict[str, str] = {
    "噪声扰民": "M14",
    "噪音": "M14",
    "违法建筑": "M10",
    "违章搭建": "M10",
    "占道经营": "M11",
    "乱设摊": "M11",
    "小广告": "M12",
    "食品安全": "M13",
    "养犬管理": "M15",
    "群租": "M16",
    "消防安全": "M17",
    "燃气安全": "M18",
    "房屋安全": "M19",
    "防汛": "M20",
    "积水": "M20",
    "电动车": "M21",
    "社会救助": "M22",
    "养老服务": "M23",
    "就业社保": "M24",
    "水电气": "M25",
    "供水": "M25",
    "供电": "M25",
    "物业管理": "M26",
    "物业服务": "M26",
    "垃圾清运": "M27",
    "市容环境": "M27",
    "绿化市政": "M28",
    "市政设施": "M28",
    "矛盾纠纷": "M06",
    "邻里纠纷": "M06",
    "人口管理": "M05",
    "信访": "M07",
}


def verify_signature(secret: str | None, body: bytes, header: str | None) -> None:
    """Check ``sha256=<hex>`` of HMAC-SHA256(secret, body); :class:`AuthError` (401) otherwise."""
    if not secret:
        raise AuthError("the 12345 webhook is closed: no shared secret is configured (GRIDGIS_INTAKE_HMAC_SECRET)")
    if not header or not header.startswith("sha256="):
        raise AuthError(f"the 12345 webhook needs the header {SIGNATURE_HEADER}: sha256=<hex HMAC of the body>")
    want = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, header.removeprefix("sha256=").strip().lower()):
        raise AuthError("the 12345 webhook signature does not match the body")


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body`` (what the hotline system sends)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value).strip().replace("/", "-"))
        except ValueError:
            raise ValidationError(f"来电时间 {value!r} is not a date and time (e.g. 2026-09-30 10:15:00)") from None
    # the hotline writes Beijing time without a zone: its documented calendar, not a guess
    return t.replace(tzinfo=SHANGHAI) if t.tzinfo is None else t


def order_from_record(rec: dict[str, Any]) -> dict[str, Any]:
    """One order from a record with Chinese or English keys; :class:`ValidationError` without an order number."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        field = ORDER_HEADERS.get(str(k).strip().replace(" ", "")) or ORDER_HEADERS.get(str(k).strip().lower())
        if field:
            out[field] = v.strip() if isinstance(v, str) else v
    no = out.get("order_no")
    if no is None or str(no).strip() == "":
        raise ValidationError("a 12345 order needs its 工单编号 (order number)")
    out["order_no"] = str(no).strip()
    out["called_at"] = _time(out.get("called_at"))
    for key in ("lon", "lat"):
        if out.get(key) not in (None, ""):
            try:
                out[key] = float(out[key])
            except (TypeError, ValueError):
                raise ValidationError(f"order {no}: {key} {out[key]!r} is not a number") from None
        else:
            out[key] = None
    return out


def matter_for(category: str | None, content: str | None, catalogue: Any) -> str | None:
    """The matter code of an order: the category table first, then the catalogue's keyword guess."""
    cat = (category or "").strip()
    for word, code in CATEGORY_MATTERS.items():
        if word and word in cat and catalogue.has(code):
            return code
    if cat and catalogue.has(cat):
        return cat
    guessed = catalogue.guess(f"{cat} {content or ''}")
    return guessed.code if guessed is not None else None


def intake_orders(
    store: PeopleStore, records: list[dict[str, Any]], tickets: Any = None, actor: str = "12345", commit: bool = True
) -> dict[str, Any]:
    """Take in orders (see the module docstring); returns counts and the per-order outcome.

    Without ``commit``, a dry run: each order is read, placed and checked as a ticket the same way and
    counted as it would be (ticketed or queued), and nothing is stored (no ticket ids)."""
    from gridgis.tickets.store import TicketStore

    tickets = tickets or TicketStore(store.repository)
    outcome: dict[str, list[dict[str, Any]]] = {"ticketed": [], "queued": [], "skipped": [], "rejected": []}
    with store._read() as conn:
        known = set(conn.execute(sa.select(T.intake.c.order_no)).scalars())
    for i, rec in enumerate(records):
        try:
            order = order_from_record(rec)
        except GridGISError as err:
            outcome["rejected"].append({"row": i, "reason": err.message})
            continue
        if order["order_no"] in known:
            outcome["skipped"].append(
                {"order_no": order["order_no"], "status": "skipped", "reason": "already imported"}
            )
            continue
        known.add(order["order_no"])
        result = _take(store, tickets, order, rec, actor, commit)
        outcome[result["status"]].append({"order_no": order["order_no"], **result})
    return {**{k: len(v) for k, v in outcome.items()}, "orders": outcome}


def _take(
    store: PeopleStore, tickets: Any, order: dict[str, Any], raw: dict[str, Any], actor: str, commit: bool = True
) -> dict[str, Any]:
    matter = matter_for(order.get("category"), order.get("content"), tickets.catalogue)
    if order.get("lon") is not None and order.get("lat") is not None:
        place = store.placer.route_point(order["lon"], order["lat"])
    else:
        place = store.placer.place(address=order.get("address"))
    reason = None
    if not place.placed:
        reason = place.reason
    elif matter is None:
        reason = f"category {order.get('category')!r} maps to no matter of the catalogue"
    at = now()
    row = {
        "order_no": order["order_no"],
        "called_at": order.get("called_at"),
        "content": order.get("content") or "",
        "address": order.get("address"),
        "phone": order.get("phone"),
        "category": order.get("category"),
        "matter_code": matter,
        "lon": place.lon,
        "lat": place.lat,
        "confidence": place.confidence,
        "status": "queued",
        "reason": reason,
        "raw": {str(k): (v.isoformat() if isinstance(v, datetime) else v) for k, v in raw.items()},
        "created_at": at,
        "updated_at": at,
    }
    ticket_id = None
    if reason is None and not commit:
        try:  # the checks of tickets.create, without storing
            tickets.prepare(
                place.lon,
                place.lat,
                matter_code=matter,
                description=order.get("content") or "",
                address=order.get("address"),
                channel="12345",
                external_id=order["order_no"],
                received_at=order.get("called_at"),
            )
            row["status"] = "ticketed"
        except GridGISError as err:
            row["reason"] = err.message
    elif reason is None:
        try:
            t = tickets.create(
                place.lon,
                place.lat,
                matter_code=matter,
                description=order.get("content") or "",
                address=order.get("address"),
                channel="12345",
                external_id=order["order_no"],
                received_at=order.get("called_at"),
                actor=actor,
            )
            ticket_id = t.id
            row["status"] = "ticketed"
        except GridGISError as err:
            row["reason"] = err.message
    row["ticket_id"] = ticket_id
    if commit:
        with store._write(f"storing 12345 order {order['order_no']}") as conn:
            conn.execute(T.intake.insert().values(**row))
    return {
        "status": row["status"],
        "ticket_id": ticket_id,
        "reason": row["reason"],
        "confidence": place.confidence,
        "matter_code": matter,
    }


def queue(store: PeopleStore, status: str = "queued", limit: int = 500) -> list[dict[str, Any]]:
    with store._read() as conn:
        q = sa.select(T.intake).where(T.intake.c.status == status).order_by(T.intake.c.id).limit(limit)
        return [_plain(r) for r in conn.execute(q).mappings()]


def resolve_queued(
    store: PeopleStore,
    order_no: str,
    *,
    building_code: str | None = None,
    address: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    matter_code: str | None = None,
    actor: str = "intake",
    tickets: Any = None,
) -> dict[str, Any]:
    """A person places a queued order (building, address or point; matter if missing) → its ticket."""
    from gridgis.tickets.store import TicketStore

    tickets = tickets or TicketStore(store.repository)
    with store._read() as conn:
        row = conn.execute(sa.select(T.intake).where(T.intake.c.order_no == order_no)).mappings().first()
    if row is None:
        raise NotFoundError(f"12345 order {order_no} does not exist")
    if row["status"] != "queued":
        raise TransitionError(f"12345 order {order_no} is {row['status']} (ticket {row['ticket_id']}), not queued")
    if lon is not None and lat is not None:
        place = store.placer.route_point(lon, lat)
    else:
        place = store.placer.place(building_code=building_code, address=address)
    if not place.placed:
        raise ValidationError(f"12345 order {order_no} still cannot be placed: {place.reason}")
    matter = matter_code or row["matter_code"]
    if not matter or not tickets.catalogue.has(matter):
        raise ValidationError(f"12345 order {order_no} needs a matter code of the catalogue (GET /matters)")
    t = tickets.create(
        place.lon,
        place.lat,
        matter_code=matter,
        description=row["content"],
        address=row["address"],
        channel="12345",
        external_id=order_no,
        received_at=row["called_at"],
        actor=actor,
    )
    with store._write(f"resolving 12345 order {order_no}") as conn:
        conn.execute(
            T.intake.update()
            .where(T.intake.c.order_no == order_no)
            .values(
                status="ticketed",
                ticket_id=t.id,
                matter_code=matter,
                lon=place.lon,
                lat=place.lat,
                confidence=1.0,
                reason=f"placed by {actor}",
                updated_at=now(),
            )
        )
    return {"order_no": order_no, "status": "ticketed", "ticket_id": t.id}


__all__ = [
    "CATEGORY_MATTERS",
    "SIGNATURE_HEADER",
    "intake_orders",
    "matter_for",
    "order_from_record",
    "queue",
    "resolve_queued",
    "sign",
    "verify_signature",
]
