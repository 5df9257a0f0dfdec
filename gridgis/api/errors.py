"""One table from library exceptions to HTTP, answered as ``application/problem+json`` (RFC 9457).

Only 5xx are logged; internals are never echoed to the client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridgis.api.reason import REASON_HEADER, short_reason
from gridgis.errors import GridGISError

log = logging.getLogger("gridgis.api")
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, title: str, detail: str | None = None, subject: str | None = None, **extra: object
) -> JSONResponse:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    problems = extra.get("problems")
    listed = problems if isinstance(problems, list) else None
    headers[REASON_HEADER] = short_reason(title, detail, listed, subject)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridGISError)
    async def _gridgis_error(request: Request, exc: GridGISError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        problems = [p.to_dict() for p in exc.problems] or None
        return problem(exc.status, exc.title, exc.message, _subject(request), problems=problems)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "Invalid request", "the request does not match the API", problems=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        resp = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(500, "Internal server error", "an unexpected error occurred; it has been logged")


def _subject(request: Request) -> str | None:
    """``grids 310115005039001`` for a request about one feature (the status line names it)."""
    params = request.path_params
    if isinstance(params.get("layer"), str) and isinstance(params.get("code"), str):
        return f"{params['layer']} {params['code']}"
    return None


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid request",
    428: "Precondition required",
    503: "Service unavailable",
}
