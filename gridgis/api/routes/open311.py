"""API routes: Open311 GeoReport v2 under ``/open311/v2/`` (JSON and XML), and ``/open311/discovery.json``.

Thin: parse the query or the form (``application/x-www-form-urlencoded``, as the spec says), call
the ticket store and the mapping in :mod:`gridgis.tickets.open311`, answer in the requested
format. Errors answer in Open311's own format (a list of ``{code, description}``; XML
``<errors><error>…``), never problem+json, so existing Open311 clients read them.

API keys: when ``app.state.open311_api_keys`` (or the setting ``open311_api_keys``) names keys,
``POST requests`` needs one of them as ``api_key`` (else 403); when none are configured, posting
is open (as for a city's public reporting form).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gridgis.api.bodies import read_body
from gridgis.api.errors import UNAVAILABLE_DETAIL
from gridgis.api.routes.tickets import audit_hook, get_ticket_store
from gridgis.api.schemas.common import documented, request_body
from gridgis.api.schemas.open311 import (
    OPEN311_ERRORS,
    Discovery,
    ServiceDefinition,
    ServiceRequestIn,
    ServiceRequests,
    Services,
)
from gridgis.auth.deps import AuditDep, CurrentPrincipal
from gridgis.errors import AuthError, ForbiddenError, GridGISError, MalformedInputError, NotFoundError, ValidationError
from gridgis.tickets import open311 as o311

router = APIRouter(prefix="/open311", tags=["open311"])
#: Open311 answers errors in GeoReport v2 form, not problem+json (app.py documents these instead)
ERROR_RESPONSES = OPEN311_ERRORS

XML_TYPE = "text/xml; charset=utf-8"
MAX_RESULTS = 1000


def _status_of(err: GridGISError) -> int:
    if isinstance(err, (AuthError, ForbiddenError)):
        return 403
    if isinstance(err, NotFoundError):
        return 404
    if err.status >= 500:
        return err.status
    return 400


def _respond(fmt: str, payload: Any, to_xml: Callable[[Any], bytes], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(payload), status_code=status, media_type=XML_TYPE)
    return JSONResponse(payload, status_code=status)


def _error(fmt: str, status: int, *descriptions: str) -> Response:
    return _respond(
        fmt if fmt in ("json", "xml") else "json", o311.errors(status, *descriptions), o311.errors_xml, status
    )


def _guard(fmt: str, work: Callable[[], Response]) -> Response:
    if fmt not in ("json", "xml"):
        return _error("json", 400, f"format {fmt!r} is not supported: use .json or .xml")
    try:
        return work()
    except GridGISError as err:
        if err.status == 503:  # a database fault: say nothing about where or why (gridgis.api.errors)
            return _error(fmt, 503, UNAVAILABLE_DETAIL)
        details = [str(p.message) for p in err.problems] or [err.message]
        return _error(fmt, _status_of(err), *details)


@router.get(
    "/discovery.xml",
    response_class=Response,
    responses={200: {"description": "the discovery document", "content": {"text/xml": {"schema": {"type": "string"}}}}},
)
def discovery_xml(request: Request) -> Response:
    """The discovery document in XML."""
    return Response(o311.discovery_xml(discovery(request)), media_type="text/xml; charset=utf-8")


@router.get("/discovery.json", **documented(Discovery))
def discovery(request: Request) -> dict[str, Any]:
    """The GeoReport v2 discovery document pointing at this server's endpoint."""
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    return {
        "changeset": "2026-11-01T00:00:00+08:00",
        "contact": "网格化管理服务中心 (gridgis)",
        "key_service": "向所在街道申请 api_key",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-11-01T00:00:00+08:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


@router.get("/v2/services.{fmt}", **documented(Services))
def list_services(fmt: str, request: Request) -> Response:
    store = get_ticket_store(request)
    return _guard(fmt, lambda: _respond(fmt, o311.services(store.catalogue), o311.services_xml))


@router.get("/v2/services/{code}.{fmt}", **documented(ServiceDefinition))
def service_definition(code: str, fmt: str, request: Request) -> Response:
    store = get_ticket_store(request)

    def work() -> Response:
        if not store.catalogue.has(code):
            raise NotFoundError(f"service_code {code} not found")
        return _respond(fmt, o311.service_definition(store.catalogue, code), o311.service_definition_xml)

    return _guard(fmt, work)


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request)
    form = dict(parse_qsl(request.url.query, keep_blank_values=True))
    if body:
        if ctype not in ("application/x-www-form-urlencoded", ""):
            raise MalformedInputError(
                f"content type {ctype!r} is not supported: send application/x-www-form-urlencoded as GeoReport v2 says"
            )
        try:
            form.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise MalformedInputError("the form is not UTF-8") from None
    return form


def _check_key(request: Request, form: dict[str, str]) -> None:
    keys = getattr(request.app.state, "open311_api_keys", None)
    if keys is None:
        keys = getattr(request.app.state.settings, "open311_api_keys", None)
    if keys and form.get("api_key") not in set(keys):
        raise ForbiddenError("Invalid api_key received -- can't proceed with create_request")


@router.post(
    "/v2/requests.{fmt}",
    **documented(ServiceRequests),
    openapi_extra=request_body(ServiceRequestIn, "application/x-www-form-urlencoded", "multipart/form-data"),
)
async def post_request(fmt: str, request: Request, principal: CurrentPrincipal, audit: AuditDep) -> Response:
    """Create a service request (a ticket) from a form; answers its id at once.

    Recorded and audited under the token's holder when a token is sent, else as ``anonymous``
    with its channel; the names and contacts in the form stay private to the ticket.
    """
    store = get_ticket_store(request)
    try:
        form = await _form(request)
    except GridGISError as err:
        return _error(fmt, 400, err.message)

    def work() -> Response:
        _check_key(request, form)
        args = o311.parse_post(form, store.catalogue)
        lon, lat = args.pop("lon"), args.pop("lat")
        try:
            who = principal if principal is not None else "anonymous"
            ticket = store.create(
                lon,
                lat,
                actor=principal.name if principal is not None else "anonymous",
                audit=audit_hook(request, audit, who, 200),
                **args,
            )
        except NotFoundError as err:  # an address that matches nothing is a bad request, not a missing resource
            raise ValidationError(err.message) from None
        return _respond(
            fmt,
            o311.post_response(ticket, store.catalogue),
            lambda p: o311.requests_xml(p, ("service_request_id", "service_notice", "account_id")),
        )

    return _guard(fmt, work)


def _date(params: dict[str, str], key: str) -> datetime | None:
    raw = params.get(key)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{key} {raw!r} is not a W3C date-time such as 2026-10-01T00:00:00+08:00") from None
    if value.tzinfo is None:
        raise ValidationError(f"{key} {raw!r} has no time zone offset")
    return value


def _csv(params: dict[str, str], key: str) -> list[str]:
    return [v.strip() for v in (params.get(key) or "").split(",") if v.strip()]


@router.get("/v2/requests.{fmt}", **documented(ServiceRequests))
def list_requests(fmt: str, request: Request) -> Response:
    """Service requests; filters service_request_id, service_code, start_date, end_date, status."""
    store = get_ticket_store(request)
    params = dict(request.query_params)

    def work() -> Response:
        ids = _csv(params, "service_request_id")
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            raise ValidationError(f"service_request_id {bad[0]!r} is not a request id")
        codes = _csv(params, "service_code")
        for code in codes:
            if not store.catalogue.has(code):
                raise ValidationError(f"service_code {code!r} not found")
        statuses: list[str] = []
        for s in _csv(params, "status"):
            statuses += o311.statuses_for(s)
        start, end = _date(params, "start_date"), _date(params, "end_date")
        if not ids or start is not None or end is not None:  # the spec's defaults and 90-day limit
            start, end = o311.request_window(start, end, datetime.now(UTC))
        tickets = store.list(
            ids=[int(i) for i in ids] if ids else None,
            status=statuses or None,
            matter=codes or None,
            since=start,
            until=end,
            limit=MAX_RESULTS,
        )
        extras = store.extras([t.id for t in tickets if t.id is not None])
        found = [o311.service_request(t, store.catalogue, extras.get(t.id or 0)) for t in tickets]
        return _respond(fmt, found, o311.requests_xml)

    return _guard(fmt, work)


def _one(fmt: str, request: Request, request_id: str) -> Response:
    store = get_ticket_store(request)

    def work() -> Response:
        if not request_id.isdigit():
            raise NotFoundError(f"Service request not found with id or token {request_id}")
        try:
            ticket = store.get(int(request_id))
        except NotFoundError:
            raise NotFoundError(f"Service request not found with id or token {request_id}") from None
        extra = store.extra(int(request_id))
        return _respond(fmt, [o311.service_request(ticket, store.catalogue, extra)], o311.requests_xml)

    return _guard(fmt, work)


@router.get("/v2/requests/{request_id}.{fmt}", **documented(ServiceRequests))
def get_request(request_id: str, fmt: str, request: Request) -> Response:
    return _one(fmt, request, request_id)


@router.get("/v2/request/{request_id}.{fmt}", include_in_schema=False)
def get_request_singular(request_id: str, fmt: str, request: Request) -> Response:
    """The path of the Swagger description (``request/``), same answer."""
    return _one(fmt, request, request_id)


@router.get("/v2/tokens/{token}.{fmt}", **documented(ServiceRequests))
def token(token: str, fmt: str, request: Request) -> Response:
    """Tokens are the request ids (requests get their id at once)."""
    store = get_ticket_store(request)

    def work() -> Response:
        if not token.isdigit():
            raise NotFoundError(f"token {token} not found")
        ticket = store.get(int(token))
        return _respond(
            fmt,
            [{"service_request_id": str(ticket.id), "token": token}],
            lambda p: o311.requests_xml(p, ("service_request_id", "token")),
        )

    return _guard(fmt, work)
