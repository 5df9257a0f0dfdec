"""One table from library exceptions to HTTP, answered as ``application/problem+json`` (RFC 9457).

Only 5xx are logged; internals are never echoed to the client:

- any database error (a :class:`~gridgis.errors.StorageUnavailableError`, or a driver error that
  escaped the repository, e.g. from the token store or the audit log) is a 503 whose detail says
  only "retry later": no URL, host, SQL or driver message. The full cause goes to the log.
- a bad query, path or header parameter (FastAPI's request validation) is a 400 naming the
  parameter, as OGC API – Features Part 1 requires; an invalid body stays 422.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridgis.api.reason import REASON_HEADER, short_reason
from gridgis.errors import GridGISError, SchemaOutdatedError
from gridgis.storage.engine import is_database_error

log = logging.getLogger("gridgis.api")
PROBLEM_JSON = "application/problem+json"
#: what a client is told when the database cannot answer (nothing about where or why)
UNAVAILABLE_DETAIL = "the database is unavailable; nothing was changed, retry later"
#: request parts whose validation failures are bad parameters (400), not bad content (422)
PARAMETER_PARTS = ("query", "path", "header", "cookie")


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


def unavailable() -> JSONResponse:
    """The one answer to a database fault: 503, ``Retry-After``, no internal detail."""
    resp = problem(503, "Service unavailable", UNAVAILABLE_DETAIL)
    resp.headers["Retry-After"] = "1"
    return resp


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridGISError)
    async def _gridgis_error(request: Request, exc: GridGISError) -> JSONResponse:
        if exc.status == 503:
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
            if isinstance(exc, SchemaOutdatedError):  # the operator's fix, no internals: the revisions
                return problem(503, exc.title, exc.message, _subject(request))
            return unavailable()
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        problems = [p.to_dict() for p in exc.problems] or None
        return problem(
            exc.status,
            exc.title,
            exc.message,
            _subject(request),
            problems=problems,
            parameter=getattr(exc, "parameter", None),
            **getattr(exc, "members", {}),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "message": _safe_message(e.get("msg", ""))}
            for e in exc.errors()
        ]
        params = [e["loc"] for e in errors if e["loc"] and e["loc"][0] in PARAMETER_PARTS]
        if params:
            names = ", ".join(dict.fromkeys(str(loc[-1]) for loc in params))
            first = next(e for e in errors if e["loc"] and e["loc"][0] in PARAMETER_PARTS)
            detail = f"invalid parameter {names}: {first['message']}"
            return problem(400, "Bad request", detail, parameter=str(params[0][-1]), problems=errors)
        return problem(422, "Invalid request", "the request does not match the API", problems=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        resp = problem(exc.status_code, _TITLES.get(exc.status_code, "Error"), detail)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "%s %s: database error %s",
            request.method,
            request.url.path,
            exc.__class__.__name__,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        return unavailable()

    for cls in _database_error_classes():
        app.add_exception_handler(cls, _database_error)

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # a number from the request beyond what the store or the arithmetic can hold
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem(400, "Bad request", "a number in the request is outside the range that can be stored")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_database_error(exc):  # wrapped in another error type on its way up
            return await _database_error(request, exc)
        log.exception("%s %s failed", request.method, request.url.path)
        return problem(500, "Internal server error", "an unexpected error occurred; it has been logged")


def _database_error_classes() -> list[type[Exception]]:
    """Driver and SQLAlchemy error classes answered 503 (handled before the catch-all)."""
    from sqlalchemy import exc as sa_exc

    classes: list[type[Exception]] = [sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError]
    try:
        import psycopg

        classes.append(psycopg.Error)
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    import sqlite3

    classes.append(sqlite3.Error)
    return classes


def _safe_message(msg: str) -> str:
    return msg[:300]


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
