"""One feature without FastAPI's routing and dependency solving: the API's most frequent read.

``GET /collections/{layer}/items/{code}`` with no query string is answered by
:class:`FeatureFastPath`, an ASGI layer inside every other middleware (request ids and the access
log, gzip, the generation floor, input limits all apply), by the same functions as the route:
:func:`~gridgis.auth.deps.get_principal`, :func:`~gridgis.auth.deps.check_gate`,
:func:`~gridgis.auth.deps.check_reader` and :func:`gridgis.api.routes.features.fast_item` (which
applies :func:`~gridgis.auth.tokens.sees_personal_data`). It only ever answers 200: anything
else — a query string, another method, an unknown layer, an unusual code, a refused or invalid
token, closed reads, a missing feature, a database fault, SQLite — goes to the app unchanged,
whose route gives the answer (problem+json and all). Per request this saves FastAPI's route
matching over every route, its dependency resolution and parameter validation: most of the CPU a
single feature costs.
"""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gridgis.api.params import parse_api_crs
from gridgis.auth.deps import check_gate, check_reader, get_principal
from gridgis.layers import LAYERS

log = logging.getLogger(__name__)

TEMPLATE = "/collections/{layer}/items/{code}"
#: the paths served here: a known layer's item by a plain code (codes are digits and capitals)
_ITEM = re.compile(r"/collections/([a-z_]{1,32})/items/([A-Za-z0-9_.-]{1,64})")


class FeatureFastPath:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and not scope.get("root_path")
            and "app" in scope
        ):
            found = _ITEM.fullmatch(scope["path"])
            if found is not None and found[1] in LAYERS:
                try:
                    response = await _answer(Request(scope), found[1], found[2])
                except Exception as err:  # noqa: BLE001 - every refusal and fault is the route's to answer
                    log.debug("fast path declined %s: %s", scope["path"], err.__class__.__name__)
                    response = None
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(request: Request, layer: str, code: str) -> Response | None:
    from gridgis.api.routes.features import fast_item

    state = request.app.state
    public_reads = state.settings.public_reads
    principal = await get_principal(request)
    check_gate(principal, "GET", TEMPLATE, public_reads)
    check_reader(principal, public_reads)
    return await fast_item(request, state.repository, layer, code, principal, parse_api_crs(None), None)


__all__ = ["FeatureFastPath"]
