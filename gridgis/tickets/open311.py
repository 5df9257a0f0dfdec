"""Open311 GeoReport v2 mapping: catalogue items ⇄ services, tickets ⇄ service requests, JSON and XML.

- A service is a catalogue item: ``service_code`` = item code (``M01``..), ``service_name`` = its
  name, ``group`` = its domain, ``keywords`` = its keywords, ``type`` = ``realtime``,
  ``metadata`` = true (the service definition asks for the building/unit, the channel and an
  optional ``external_id``: GeoReport v2 has no field for a source system's reference, so a client
  sends it as ``attribute[external_id]`` and a re-sent post answers the stored request).
- A service request is a ticket: ``status`` is ``closed`` once resolved (resolved, rated,
  closed), ``open`` before; ``status_notes`` gives the loop state in Chinese; ``agency_responsible``
  is the department; ``expected_datetime`` the solution deadline; merged duplicates say so.
- Errors are a list of ``{code, description}`` (XML ``<errors><error>…``).
- One more service, :data:`WISH_SERVICE_CODE` (``WISH``, 微心愿): a resident's small wish. Posting it
  creates a wish (``gridgis.people.wishes``: placed, addressed to the compound's party organisation),
  not a ticket; its requests have ids ``W-<n>`` (ticket ids are digits) and ``open``/``closed`` status
  (closed once confirmed or cancelled), ``status_notes`` the wish's step (居民点单 … 居民确认).

Pure functions: the API module (``gridgis.api.routes.open311``) only parses and answers.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from gridgis.errors import ValidationError
from gridgis.tickets.calendar import SHANGHAI
from gridgis.tickets.catalogue import Catalogue, Deadlines
from gridgis.tickets.loop import STATES, Ticket
from gridgis.tickets.tables import MAX_EXTERNAL_ID_CHARS

CLOSED_STATES = frozenset({"resolved", "rated", "closed"})
CHANNELS = (("12345", "12345热线"), ("wechat", "微信小程序"), ("app", "移动应用"), ("patrol", "网格员巡查"))
#: the request fields of GeoReport v2, in the order of the spec (and of the XML fixtures)
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
#: the service-definition attribute carrying a source system's reference (GeoReport v2 has no field
#: for one): ``attribute[external_id]=…`` is stored as the ticket's ``external_id``, so a re-sent post
#: is not stored twice (:mod:`gridgis.tickets.external_ids`)
EXTERNAL_ID_ATTRIBUTE = "external_id"
SERVICE_FIELDS = ("service_code", "service_name", "description", "metadata", "type", "keywords", "group")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value is not None else None


def open311_status(status: str) -> str:
    """``open`` or ``closed`` for a loop state."""
    return "closed" if status in CLOSED_STATES else "open"


def statuses_for(open311: str) -> list[str]:
    """Loop states behind an Open311 status filter (``open``/``closed``)."""
    if open311 == "closed":
        return sorted(CLOSED_STATES)
    if open311 == "open":
        return sorted(set(STATES) - CLOSED_STATES)
    raise ValidationError(f"status {open311!r} is not open or closed")


def _notice(catalogue: Catalogue, code: str) -> str:
    item = catalogue.item(code)
    dl = item.deadlines
    limits = (
        f"{dl.respond}响应、{dl.reply}回复、{dl.coordinate}协调、{dl.solve}内拿出解决方案"
        if isinstance(dl, Deadlines)
        else ""
    )
    return f"{item.tier_label}：{item.department}负责，{limits}".replace("min", "分钟").replace("wd", "个工作日")


def service(catalogue: Catalogue, code: str) -> dict[str, Any]:
    """One service of ``services.json``."""
    item = catalogue.item(code)
    domain = catalogue.domain(item.domain).name
    desc = f"{domain}｜{item.tier_label}｜责任部门：{item.department}"
    if item.legal_basis:
        desc += f"｜依据：{item.legal_basis}"
    return {
        "service_code": item.code,
        "service_name": item.name,
        "description": desc,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(item.keywords) or None,
        "group": domain,
    }


def services(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every service: the catalogue's matters, then residents' small wishes."""
    return [service(catalogue, it.code) for it in catalogue.items] + [wish_service()]


def service_definition(catalogue: Catalogue, code: str) -> dict[str, Any]:
    """The service definition: the extra attributes a client may send (all optional)."""
    if code == WISH_SERVICE_CODE:
        return wish_service_definition()
    catalogue.item(code)
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "building",
                "datatype": "string",
                "required": False,
                "datatype_description": "如：3栋2单元",
                "order": 1,
                "description": "楼栋、单元（有助于精确派单）",
            },
            {
                "variable": True,
                "code": "channel",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": "反映渠道",
                "values": [{"key": k, "name": n} for k, n in CHANNELS],
            },
            {
                "variable": True,
                "code": EXTERNAL_ID_ATTRIBUTE,
                "datatype": "string",
                "required": False,
                "datatype_description": f"来源系统的工单编号，至多{MAX_EXTERNAL_ID_CHARS}字符，如 12345-20261201-0001",
                "order": 3,
                "description": "来源工单编号（重发同一编号、同一内容不会重复立单）",
            },
        ],
    }


def service_request(ticket: Ticket, catalogue: Catalogue, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ticket as a GeoReport v2 service request."""
    extra = extra or {}
    item = catalogue.item(ticket.matter_code) if catalogue.has(ticket.matter_code) else None
    notes = STATES.get(ticket.status, ticket.status)
    if ticket.close_reason == "merged":
        notes = f"重复工单，已合并至 {ticket.master_id}"
    elif ticket.status == "closed":
        notes = "事件办结"
    return {
        "service_request_id": str(ticket.id),
        "status": open311_status(ticket.status),
        "status_notes": notes,
        "service_name": item.name if item else None,
        "service_code": ticket.matter_code,
        "description": ticket.description or None,
        "agency_responsible": ticket.department,
        "service_notice": _notice(catalogue, ticket.matter_code) if item else None,
        "requested_datetime": _iso(ticket.received_at),
        "updated_datetime": _iso(ticket.updated_at),
        "expected_datetime": _iso(ticket.solve_due),
        "address": ticket.address,
        "address_id": extra.get("address_id"),
        "zipcode": extra.get("zipcode"),
        "lat": round(ticket.lat, 7),
        "long": round(ticket.lon, 7),
        "media_url": extra.get("media_url"),
    }


def post_response(ticket: Ticket, catalogue: Catalogue) -> list[dict[str, Any]]:
    """The answer to ``POST requests``: the new id at once (no token needed)."""
    return [
        {
            "service_request_id": str(ticket.id),
            "service_notice": _notice(catalogue, ticket.matter_code),
            "account_id": None,
        }
    ]


def errors(code: int, *descriptions: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": d} for d in descriptions]


# -- parsing POST requests -----------------------------------------------------------------------
def parse_post(form: dict[str, str], catalogue: Catalogue) -> dict[str, Any]:
    """Check a POST ``requests`` form and turn it into :meth:`TicketStore.create` arguments.

    Raises :class:`ValidationError` listing every problem (the API answers 400 with each as an
    Open311 error). A location is ``lat`` + ``long`` (WGS84); address-only requests are refused
    because a ticket needs a point to be routed.
    """
    problems: list[str] = []
    code = (form.get("service_code") or "").strip()
    if not code:
        problems.append("service_code is required (GET services.json lists them)")
    elif not catalogue.has(code):
        problems.append(f"service_code {code!r} not found (GET services.json lists them)")
    lat, lon = _number(form, "lat", problems), _number(form, "long", problems)
    has_address = bool((form.get("address_string") or "").strip())
    if (
        (lat is None or lon is None)
        and not has_address
        and not any(f"{k} is not" in p for p in problems for k in ("lat", "long"))
    ):
        problems.append("lat and long (WGS84), or address_string naming a compound/building, are required")
    if lat is not None and not -90 <= lat <= 90:
        problems.append(f"lat {lat} is out of range [-90, 90]")
    if lon is not None and not -180 <= lon <= 180:
        problems.append(f"long {lon} is out of range [-180, 180]")
    description = form.get("description") or ""
    if len(description) > 4000:
        problems.append("description is longer than 4000 characters")
    media = form.get("media_url")
    if media and not media.startswith(("http://", "https://")):
        problems.append("media_url must be an http(s) URL")
    attributes = {
        k[len("attribute[") : -1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")
    }
    if code and catalogue.has(code):
        problems += attribute_problems(service_definition(catalogue, code), attributes)
    if len((attributes.get(EXTERNAL_ID_ATTRIBUTE) or "").strip()) > MAX_EXTERNAL_ID_CHARS:
        problems.append(f"attribute[{EXTERNAL_ID_ATTRIBUTE}] is longer than {MAX_EXTERNAL_ID_CHARS} characters")
    if problems:
        raise ValidationError("the service request is invalid", [_problem(p) for p in problems])
    name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
    channel = attributes.get("channel") or "open311"
    address = form.get("address_string") or None
    if attributes.get("building"):
        address = f"{address or ''} {attributes['building']}".strip()
    extra: dict[str, Any] = {
        k: form.get(k) for k in ("email", "device_id", "account_id", "phone", "media_url", "address_id") if form.get(k)
    }
    if name:
        extra["name"] = name
    external_id = (attributes.pop(EXTERNAL_ID_ATTRIBUTE, "") or "").strip() or None
    if attributes:
        extra["attributes"] = attributes
    return {
        "lon": lon,
        "lat": lat,
        "crs": "wgs84",
        "matter_code": code,
        "description": description,
        "address": address,
        "channel": channel,
        "reporter": form.get("email") or form.get("device_id") or name,
        "external_id": external_id,
        "extra": extra,
    }


# -- residents' small wishes (微心愿) -------------------------------------------------------------
WISH_SERVICE_CODE = "WISH"
#: a wish's Open311 id: ``W-<wish id>`` (ticket ids are plain digits)
WISH_ID_PREFIX = "W-"
WISH_CLOSED = frozenset({"confirmed", "cancelled"})


def is_wish_service(code: str | None) -> bool:
    return (code or "").strip() == WISH_SERVICE_CODE


def wish_id(text: str) -> int | None:
    """The wish id an Open311 request id names (``W-12`` → 12), None for anything else.

    >>> wish_id("W-12"), wish_id("12"), wish_id("W-x"), wish_id("W-99999999999999999999")
    (12, None, None, None)
    """
    if not text.startswith(WISH_ID_PREFIX):
        return None
    rest = text[len(WISH_ID_PREFIX) :]
    if not (rest.isascii() and rest.isdigit()) or len(rest) > 15:
        return None
    return int(rest) or None


def wish_service() -> dict[str, Any]:
    """The wish service of ``services.json``."""
    return {
        "service_code": WISH_SERVICE_CODE,
        "service_name": "微心愿",
        "description": "居民点单、小区派单、党员接单：居民的小心愿（如代买药品、更换楼道灯泡），"
        "派给所在小区的党组织，由附近党员、志愿者认领完成，居民确认",
        "metadata": True,
        "type": "realtime",
        "keywords": "微心愿,心愿,点单,志愿服务",
        "group": "人员与组织",
    }


def wish_service_definition() -> dict[str, Any]:
    """What a wish may carry beyond description and location (all optional)."""
    return {
        "service_code": WISH_SERVICE_CODE,
        "attributes": [
            {
                "variable": True,
                "code": "title",
                "datatype": "string",
                "required": False,
                "datatype_description": "如：帮忙更换楼道灯泡（默认取描述的开头）",
                "order": 1,
                "description": "心愿标题",
            },
            {
                "variable": True,
                "code": "building",
                "datatype": "string",
                "required": False,
                "datatype_description": "楼栋编码，如 310115005039Q001B003",
                "order": 2,
                "description": "所在楼栋（有助于派给所在小区）",
            },
            {
                "variable": True,
                "code": "unit",
                "datatype": "number",
                "required": False,
                "datatype_description": "1–99",
                "order": 3,
                "description": "单元",
            },
            {
                "variable": True,
                "code": "channel",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 4,
                "description": "反映渠道",
                "values": [{"key": k, "name": n} for k, n in CHANNELS],
            },
        ],
    }


def parse_wish_post(form: dict[str, str]) -> dict[str, Any]:
    """Check a POST ``requests`` form for the wish service; :func:`gridgis.people.wishes.post_wish` arguments.

    A wish is placed by its building (``attribute[building]``), an address (``address_string``) or a
    point (``lat``/``long``, WGS84); ``ValidationError`` lists every problem.
    """
    problems: list[str] = []
    attributes = {
        k[len("attribute[") : -1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")
    }
    problems += attribute_problems(wish_service_definition(), attributes)
    lat, lon = _number(form, "lat", problems), _number(form, "long", problems)
    if lat is not None and not -90 <= lat <= 90:
        problems.append(f"lat {lat} is out of range [-90, 90]")
    if lon is not None and not -180 <= lon <= 180:
        problems.append(f"long {lon} is out of range [-180, 180]")
    address = (form.get("address_string") or "").strip() or None
    building = (attributes.get("building") or "").strip() or None
    if (lat is None or lon is None) and not address and not building:
        problems.append("lat and long (WGS84), address_string or attribute[building] are required")
    description = (form.get("description") or "").strip()
    title = (attributes.get("title") or "").strip() or description[:40]
    if not title:
        problems.append("a wish needs a description (or attribute[title]), e.g. 帮忙更换楼道灯泡")
    if len(description) > 2000:
        problems.append("description is longer than 2000 characters")
    unit = None
    if attributes.get("unit"):
        raw = attributes["unit"].strip()
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 99:
            unit = int(raw)
        else:
            problems.append(f"attribute[unit] {raw[:20]!r} is not a unit number 1–99")
    if problems:
        raise ValidationError("the wish is invalid", [_problem(p) for p in problems])
    name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x) or None
    return {
        "title": title,
        "description": description,
        "resident": name,
        "phone": form.get("phone") or None,
        "address": address,
        "building_code": building,
        "unit": unit,
        "lon": lon,
        "lat": lat,
        "channel": attributes.get("channel") or "open311",
    }


def wish_request(wish: dict[str, Any], org_name: str | None = None) -> dict[str, Any]:
    """A wish as a GeoReport v2 service request (no personal data: the resident stays private)."""
    from gridgis.people.wishes import STATUS_LABELS

    def iso(v: Any) -> str | None:
        if v is None:
            return None
        return _iso(datetime.fromisoformat(v) if isinstance(v, str) else v)

    status = str(wish["status"])
    lat, lon = wish.get("lat"), wish.get("lon")
    return {
        "service_request_id": f"{WISH_ID_PREFIX}{wish['id']}",
        "status": "closed" if status in WISH_CLOSED else "open",
        "status_notes": STATUS_LABELS.get(status, status),
        "service_name": "微心愿",
        "service_code": WISH_SERVICE_CODE,
        "description": wish.get("description") or wish.get("title") or None,
        "agency_responsible": org_name or wish.get("org_code"),
        "service_notice": wish_notice(wish, org_name),
        "requested_datetime": iso(wish.get("created_at")),
        "updated_datetime": iso(wish.get("updated_at")),
        "expected_datetime": None,
        "address": wish.get("address"),
        "address_id": wish.get("building_code"),
        "zipcode": None,
        "lat": round(float(lat), 7) if lat is not None else None,
        "long": round(float(lon), 7) if lon is not None else None,
        "media_url": None,
    }


def wish_notice(wish: dict[str, Any], org_name: str | None = None) -> str:
    org = org_name or wish.get("org_code")
    return f"微心愿已派至{org}，由附近党员、志愿者认领" if org else "微心愿已收到，由所在社区派单"


def wish_post_response(wish: dict[str, Any], org_name: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "service_request_id": f"{WISH_ID_PREFIX}{wish['id']}",
            "service_notice": wish_notice(wish, org_name),
            "account_id": None,
        }
    ]


#: the longest value of a free-text attribute
MAX_ATTRIBUTE_CHARS = 200


def attribute_problems(definition: dict[str, Any], attributes: dict[str, str]) -> list[str]:
    """What is wrong with ``attribute[code]=value`` pairs against the service definition (its one rule).

    >>> d = {"service_code": "M11", "attributes": [{"code": "channel", "datatype": "singlevaluelist",
    ...      "required": False, "values": [{"key": "12345", "name": "12345热线"}]}]}
    >>> attribute_problems(d, {"channel": "nonsense", "colour": "red"})
    ["attribute[channel] 'nonsense' is not one of 12345", 'attribute[colour] is not an attribute of service M11 (its attributes: channel)']
    """
    defined = {a["code"]: a for a in definition["attributes"]}
    problems = []
    for code, value in attributes.items():
        attr = defined.get(code)
        if attr is None:
            problems.append(
                f"attribute[{code}] is not an attribute of service {definition['service_code']} "
                f"(its attributes: {', '.join(defined)})"
            )
        elif attr["datatype"] in ("singlevaluelist", "multivaluelist"):
            keys = [v["key"] for v in attr.get("values", [])]
            given = value.split(",") if attr["datatype"] == "multivaluelist" else [value]
            bad = [g for g in given if g not in keys]
            if bad:
                problems.append(f"attribute[{code}] {bad[0]!r} is not one of {', '.join(keys)}")
        elif len(value) > MAX_ATTRIBUTE_CHARS:
            problems.append(f"attribute[{code}] is longer than {MAX_ATTRIBUTE_CHARS} characters")
    problems += [
        f"attribute[{code}] is required"
        for code, a in defined.items()
        if a.get("required") and not attributes.get(code)
    ]
    return problems


#: the longest span of a requests query (GeoReport v2: start_date and end_date at most 90 days apart)
MAX_WINDOW = timedelta(days=90)


def request_window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The (start, end) a requests query covers: GeoReport v2's defaults and its 90-day limit.

    No dates: the last 90 days. Only ``end``: the 90 days before it. Only ``start``: from it to now.
    A span over 90 days, or an end before the start, is a :class:`ValidationError`.

    >>> from datetime import UTC
    >>> now = datetime(2026, 12, 1, tzinfo=UTC)
    >>> [d.date().isoformat() for d in request_window(None, None, now)]
    ['2026-09-02', '2026-12-01']
    """
    end = end or (start + MAX_WINDOW if start is not None and start + MAX_WINDOW < now else now)
    start = start or end - MAX_WINDOW
    if end < start:
        raise ValidationError(f"end_date {end.isoformat()} is before start_date {start.isoformat()}")
    if end - start > MAX_WINDOW:
        raise ValidationError(
            f"start_date {start.isoformat()} and end_date {end.isoformat()} are {(end - start).days} days apart; "
            "GeoReport v2 allows at most 90 (query in windows)"
        )
    return start, end


def discovery_xml(doc: dict[str, Any]) -> bytes:
    """The discovery document as GeoReport v2's XML (``<discovery>`` with ``<endpoints>``)."""
    root = ET.Element("discovery")
    for k in ("changeset", "contact", "key_service"):
        _append(root, k, doc.get(k))
    endpoints = ET.SubElement(root, "endpoints")
    for e in doc["endpoints"]:
        el = ET.SubElement(endpoints, "endpoint")
        for k in ("specification", "url", "changeset", "type"):
            _append(el, k, e.get(k))
        formats = ET.SubElement(el, "formats")
        for f in e.get("formats", []):
            _append(formats, "format", f)
    return _document(root)


def _problem(text: str):
    from gridgis.errors import Problem

    return Problem(text, layer="open311")


def _number(form: dict[str, str], key: str, problems: list[str]) -> float | None:
    raw = form.get(key)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{key} is not a number: {raw!r}")
        return None
    if not math.isfinite(value):
        problems.append(f"{key} is not a finite number: {raw!r}")
        return None
    return value


# -- XML -------------------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if isinstance(value, list):
        for v in value:
            child = ET.SubElement(el, "value")
            for k, vv in v.items():
                _append(child, k, vv)
        return
    text = _text(value)
    if text is not None:
        el.text = text


def _document(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def services_xml(items: list[dict[str, Any]]) -> bytes:
    root = ET.Element("services")
    for s in items:
        el = ET.SubElement(root, "service")
        for k in SERVICE_FIELDS:
            _append(el, k, s.get(k))
    return _document(root)


def service_definition_xml(definition: dict[str, Any]) -> bytes:
    root = ET.Element("service_definition")
    _append(root, "service_code", definition["service_code"])
    for attr in definition["attributes"]:
        el = ET.SubElement(root, "attribute")
        for k in ("variable", "code", "datatype", "required", "datatype_description", "order", "description"):
            _append(el, k, attr.get(k))
        if "values" in attr:
            _append(el, "values", attr["values"])
    return _document(root)


def requests_xml(items: list[dict[str, Any]], fields: tuple[str, ...] | None = None) -> bytes:
    root = ET.Element("service_requests")
    for r in items:
        el = ET.SubElement(root, "request")
        for k in fields or REQUEST_FIELDS:
            if fields is None or k in r:
                _append(el, k, r.get(k))
    return _document(root)


def errors_xml(items: list[dict[str, Any]]) -> bytes:
    root = ET.Element("errors")
    for e in items:
        el = ET.SubElement(root, "error")
        _append(el, "code", e["code"])
        _append(el, "description", e["description"])
    return _document(root)


def parse_requests_xml(data: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``<service_requests>`` document (ours or another server's) into request dicts.

    Empty elements become None, ``lat``/``long`` floats; unknown elements are kept as text.
    """
    root = ET.fromstring(data.encode("utf-8") if isinstance(data, str) else data)
    if root.tag != "service_requests":
        raise ValidationError(f"expected <service_requests>, got <{root.tag}>")
    out = []
    for req in root.findall("request"):
        rec: dict[str, Any] = {}
        for child in req:
            text = (child.text or "").strip() or None
            rec[child.tag] = float(text) if child.tag in ("lat", "long") and text is not None else text
        out.append(rec)
    return out


def parse_services_xml(data: bytes | str) -> list[dict[str, Any]]:
    """Parse a ``<services>`` document into service dicts (``metadata`` as bool)."""
    root = ET.fromstring(data.encode("utf-8") if isinstance(data, str) else data)
    out = []
    for svc in root.findall("service"):
        rec: dict[str, Any] = {c.tag: ((c.text or "").strip() or None) for c in svc}
        if "metadata" in rec:
            rec["metadata"] = rec["metadata"] == "true"
        out.append(rec)
    return out
