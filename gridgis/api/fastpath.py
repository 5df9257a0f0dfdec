"""The plain OGC reads without FastAPI's routing and dependency solving: the API's most frequent reads.

``GET /collections/{layer}/items/{code}`` with no query string, and ``GET
/collections/{layer}/items`` whose query is at most one each of ``limit``, ``offset`` (plain
decimal numbers) and ``bbox`` (CRS84), are answered by :class:`FeatureFastPath`, an ASGI layer inside every other middleware (request ids and the access
log, gzip, the generation floor, input limits all apply), by the same functions as the route:
:func:`~gridgis.auth.deps.get_principal`, :func:`~gridgis.auth.deps.check_gate`,
:func:`~gridgis.auth.deps.check_reader` and :func:`gridgis.api.routes.features.fast_item` (which
applies :func:`~gridgis.auth.tokens.sees_personal_data`) or
:func:`gridgis.api.routes.features.fast_items`, the parameters read by the route's own parsers
(:func:`~gridgis.api.params.parse_limit`, :func:`~gridgis.api.params.parse_offset`,
:func:`~gridgis.api.params.parse_bbox`). It only ever answers 200: anything
else — any other query parameter or spelling, another method, an unknown layer, an unusual code, a refused or invalid
token, closed reads, a missing feature, a database fault, SQLite — goes to the app unchanged,
whose route gives the answer (problem+json and all). Per request this saves FastAPI's route
matching over every route, its dependency resolution and parameter validation: most of the CPU a
single feature costs.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gridgis.api.params import parse_api_crs, parse_bbox, parse_limit, parse_offset
from gridgis.auth.deps import check_gate, check_reader, get_principal
from gridgis.editing.ogc import DEFAULT_LIMIT
from gridgis.layers import LAYERS

log = logging.getLogger(__name__)

TEMPLATE = "/collections/{layer}/items/{code}"
ITEMS_TEMPLATE = "/collections/{layer}/items"
#: the paths served here: a known layer's item by a plain code (codes are digits and capitals), its items
_ITEM = re.compile(r"/collections/([a-z_]{1,32})/items/([A-Za-z0-9_.-]{1,64})")
_ITEMS = re.compile(r"/collections/([a-z_]{1,32})/items")
#: the spellings of limit and offset read here (anything else, e.g. "+5" or "05", is the route's)
_LIMIT = re.compile(r"[1-9][0-9]{0,8}")
_OFFSET = re.compile(r"0|[1-9][0-9]{0,11}")


class FeatureFastPath:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("root_path")
            and "app" in scope
            and scope["path"].startswith("/collections/")
        ):
            try:
                response = await _answer(scope)
            except Exception as err:  # noqa: BLE001 - every refusal and fault is the route's to answer
                log.debug("fast path declined %s: %s", scope["path"], err.__class__.__name__)
                response = None
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _answer(scope: Scope) -> Response | None:
    from gridgis.api.routes.features import fast_item, fast_items

    path, query = scope["path"], scope.get("query_string", b"")
    item = None if query else _ITEM.fullmatch(path)
    page = None if item is not None else _ITEMS.fullmatch(path)
    layer = item[1] if item is not None else page[1] if page is not None else None
    if layer is None or layer not in LAYERS:
        return None
    if page is not None:
        given = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        names = [name for name, _ in given]
        values = dict(given)
        if len(set(names)) != len(names) or not set(names) <= {"limit", "offset", "bbox"}:
            return None
        if not _LIMIT.fullmatch(values.get("limit", "1")) or not _OFFSET.fullmatch(values.get("offset", "0")):
            return None
        limit = parse_limit(int(values.get("limit", DEFAULT_LIMIT)))
        offset = parse_offset(int(values.get("offset", "0")))
        box = parse_bbox(values["bbox"]) if "bbox" in values else None
    request = Request(scope)
    state = request.app.state
    public_reads = state.settings.public_reads
    principal = await get_principal(request)
    check_gate(principal, "GET", TEMPLATE if item is not None else ITEMS_TEMPLATE, public_reads)
    check_reader(principal, public_reads)
    crs = parse_api_crs(None)
    if item is not None:
        return await fast_item(request, state.repository, layer, item[2], principal, crs, None)
    return await fast_items(request, state.repository, layer, principal, limit, offset, box, None, None, crs)


__all__ = ["FeatureFastPath"]
