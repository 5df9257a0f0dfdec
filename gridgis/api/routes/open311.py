"""API routes: Open311 GeoReport v2 under ``/open311/v2/`` (JSON and XML), and ``/open311/discovery.json``.

Thin: parse the query or the form (``application/x-www-form-urlencoded``, as the spec says), call
the ticket store and the mapping in :mod:`gridgis.tickets.open311`, answer in the requested
format. Errors answer in Open311's own format (a list of ``{code, description}``; XML
``<errors><error>…``), never problem+json, so existing Open311 clients read them.

API keys: when ``app.state.open311_api_keys`` (or the setting ``open311_api_keys``) names keys,
``POST requests`` needs one of them as ``api_key`` (else 403); when none are configured, posting
is open (as for a city's public reporting form).

The service ``WISH`` (微心愿) is served by the people area: posting it creates a wish (not a ticket),
addressed to the compound's party organisation; its requests are ``W-<n>`` (see
:mod:`gridgis.tickets.open311`).
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
from gridgis.api.routes.tickets import REPLAYED_HEADER, audit_hook, get_ticket_store
from gridgis.api.schemas.common import documented, request_body
from gridgis.api.schemas.open311 import (
    OPEN311_ERRORS,
    Discovery,
    Open311Errors,
    ServiceDefinition,
    ServiceRequestIn,
    ServiceRequests,
    Services,
)
from gridgis.auth.deps import AuditDep, CurrentPrincipal
from gridgis.errors import (
    AuthError,
    DuplicateExternalIdError,
    ForbiddenError,
    GridGISError,
    MalformedInputError,
    MisdirectedError,
    NotFoundError,
    ValidationError,
)
from gridgis.tickets import open311 as o311

router = APIRouter(prefix="/open311", tags=["open311"])
#: Open311 answers errors in GeoReport v2 form, not problem+json (app.py documents these instead)
ERROR_RESPONSES = OPEN311_ERRORS

XML_TYPE = "text/xml; charset=utf-8"
#: ``POST requests``: the request's id (also when replayed: ``Idempotent-Replayed``), or 409 for an
#: ``attribute[external_id]`` already stored with other content
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        **documented(ServiceRequests)["responses"][200],
        "headers": {
            "Idempotent-Replayed": {
                "description": "true: attribute[external_id] was already stored with the same content; "
                "this is that request, nothing was written",
                "schema": {"type": "string"},
            }
        },
    },
    409: {
        "model": Open311Errors,
        "description": "attribute[external_id] is already a stored request with other content; nothing stored",
    },
}
MAX_RESULTS = 1000


def _status_of(err: GridGISError) -> int:
    if isinstance(err, (AuthError, ForbiddenError)):
        return 403
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, MisdirectedError):
        return 421  # a routing pool's refusal: the front sends the request on to the whole store
    if isinstance(err, DuplicateExternalIdError):
        return 409  # attribute[external_id] already stored with other content: nothing stored
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
        if not store.catalogue.has(code) and not o311.is_wish_service(code):
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
    response_model=None,
    responses=POST_RESPONSES,
    openapi_extra=request_body(ServiceRequestIn, "application/x-www-form-urlencoded", "multipart/form-data"),
)
async def post_request(fmt: str, request: Request, principal: CurrentPrincipal, audit: AuditDep) -> Response:
    """Create a service request (a ticket) from a form; answers its id at once.

    Recorded and audited under the token's holder when a token is sent, else as ``anonymous``
    with its channel; the names and contacts in the form stay private to the ticket. A post whose
    ``attribute[external_id]`` is already stored is not stored again: the same report answers the
    stored request (``Idempotent-Replayed: true``), other content a 409 in Open311's error form.
    """
    store = get_ticket_store(request)
    try:
        form = await _form(request)
    except GridGISError as err:
        return _error(fmt, 400, err.message)

    def work() -> Response:
        _check_key(request, form)
        if o311.is_wish_service(form.get("service_code")):
            return _post_wish(fmt, request, principal, form)
        args = o311.parse_post(form, store.catalogue)
        lon, lat = args.pop("lon"), args.pop("lat")
        try:
            who = principal if principal is not None else "anonymous"
            made = store.submit(
                lon,
                lat,
                actor=principal.name if principal is not None else "anonymous",
                audit=audit_hook(request, audit, who, 200),
                **args,
            )
        except NotFoundError as err:  # an address that matches nothing is a bad request, not a missing resource
            raise ValidationError(err.message) from None
        answer = _respond(
            fmt,
            o311.post_response(made.ticket, store.catalogue),
            lambda p: o311.requests_xml(p, ("service_request_id", "service_notice", "account_id")),
        )
        if made.replayed:  # the same attribute[external_id] and content: the stored request, nothing written
            answer.headers[REPLAYED_HEADER] = "true"
        return answer

    return _guard(fmt, work)


def _post_wish(fmt: str, request: Request, principal: Any, form: dict[str, str]) -> Response:
    """A resident's small wish through Open311: stored as a wish (placed, addressed to the compound's
    organisation) and audited in its transaction as the token's holder or ``anonymous``, with its channel."""
    from gridgis.api.routes.people import get_people_store
    from gridgis.people.wishes import post_wish

    people = get_people_store(request)
    args = o311.parse_wish_post(form)
    who = principal if principal is not None else "anonymous"
    name = principal.name if principal is not None else "anonymous"
    with people.audited(who, "wish-post", method=request.method, path=request.url.path) as entry:
        wish = post_wish(people, posted_by=name, **args)
        entry.codes = [f"W-{wish['id']}", wish["grid_code"]]
        entry.message = f"channel {wish['channel']}; service {o311.WISH_SERVICE_CODE}; org {wish['org_code']}"
    return _respond(
        fmt,
        o311.wish_post_response(wish, _org_name(people, wish)),
        lambda p: o311.requests_xml(p, ("service_request_id", "service_notice", "account_id")),
    )


def _org_name(people: Any, wish: dict[str, Any]) -> str | None:
    if not wish.get("org_code"):
        return None
    try:
        return str(people.org(wish["org_code"])["name"])
    except NotFoundError:
        return None


def _wishes(request: Request, ids: list[int], statuses: list[str], start: Any, end: Any) -> list[dict[str, Any]]:
    """Wishes as service requests: by id, else the latest ones in the window (filtered by open/closed)."""
    from gridgis.api.routes.people import get_people_store
    from gridgis.people.wishes import get_wish, list_wishes

    people = get_people_store(request)
    if ids:
        rows = []
        for i in ids:
            try:
                rows.append(get_wish(people, i))
            except NotFoundError:
                continue
    else:
        rows = list_wishes(people, limit=MAX_RESULTS)
        if start is not None and end is not None:
            rows = [r for r in rows if start <= datetime.fromisoformat(str(r["created_at"])) < end]
    found = [o311.wish_request(r, _org_name(people, r)) for r in rows]
    return [f for f in found if not statuses or f["status"] in statuses]


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
        all_ids = _csv(params, "service_request_id")
        wish_ids = [w for w in (o311.wish_id(i) for i in all_ids) if w is not None]
        ids = [i for i in all_ids if o311.wish_id(i) is None]
        bad = [i for i in ids if _request_id(i) is None]
        if bad:
            raise ValidationError(f"service_request_id {bad[0][:30]!r} is not a request id")
        all_codes = _csv(params, "service_code")
        codes = [c for c in all_codes if not o311.is_wish_service(c)]
        for code in codes:
            if not store.catalogue.has(code):
                raise ValidationError(f"service_code {code!r} not found")
        statuses: list[str] = []
        open311_statuses = _csv(params, "status")
        for s in open311_statuses:
            statuses += o311.statuses_for(s)
        start, end = _date(params, "start_date"), _date(params, "end_date")
        if not all_ids or start is not None or end is not None:  # the spec's defaults and 90-day limit
            start, end = o311.request_window(start, end, datetime.now(UTC))
        found: list[dict[str, Any]] = []
        # tickets unless only wishes are asked for; wishes when asked for by id or by the WISH service
        if not (all_codes and not codes) and not (all_ids and not ids):
            tickets = store.list(
                ids=[int(i) for i in ids] if ids else None,  # each checked by _request_id
                status=statuses or None,
                matter=codes or None,
                since=start,
                until=end,
                limit=MAX_RESULTS,
            )
            extras = store.extras([t.id for t in tickets if t.id is not None])
            found += [o311.service_request(t, store.catalogue, extras.get(t.id or 0)) for t in tickets]
        if wish_ids or (len(codes) < len(all_codes) and not ids):
            found += _wishes(request, wish_ids, open311_statuses, None if wish_ids else start, end)
        return _respond(fmt, found[:MAX_RESULTS], o311.requests_xml)

    return _guard(fmt, work)


def _request_id(text: str) -> int | None:
    """The ticket id ``text`` names: ASCII digits within the stored integers (a signed 64-bit
    integer), None otherwise (``"²".isdigit()`` is true, and 27 digits overflow the database).

    >>> _request_id("42"), _request_id("9223372036854775808"), _request_id("²"), _request_id("-1")
    (42, None, None, None)
    """
    from gridgis.api.inputs import INT64_MAX

    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= INT64_MAX else None


def _one(fmt: str, request: Request, request_id: str) -> Response:
    store = get_ticket_store(request)

    def work() -> Response:
        wish = o311.wish_id(request_id)
        if wish is not None:
            found = _wishes(request, [wish], [], None, None)
            if not found:
                raise NotFoundError(f"Service request not found with id or token {request_id[:30]}")
            return _respond(fmt, found, o311.requests_xml)
        wanted = _request_id(request_id)
        if wanted is None:  # no ticket can have it: the spec's not-found, in Open311's format
            raise NotFoundError(f"Service request not found with id or token {request_id[:30]}")
        try:
            ticket = store.get(wanted)
        except NotFoundError:
            raise NotFoundError(f"Service request not found with id or token {request_id}") from None
        extra = store.extra(wanted)
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
