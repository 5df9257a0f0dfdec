"""Cross-cutting HTTP concerns: input limits, request ids and structured access logs, CORS.

- :class:`InputLimitMiddleware`: bodies over ``settings.max_body_bytes`` are refused with 413
  before any route runs (by ``Content-Length`` when given, else while streaming, chunked or
  not); JSON bodies deeper than ``settings.max_json_depth`` and NUL bytes in the path or query
  are refused with 400 (rules in :mod:`gridgis.api.bodies`).
- Every response carries ``X-Request-ID`` (the client's, or a new one); one JSON log line per
  request (method, path, status, duration in ms, request id) on the ``gridgis.access`` logger,
  and every other line logged while serving it carries the same ``request_id``
  (:mod:`gridgis.logs`).
- Answers of :data:`GZIP_MIN_BYTES` or more are gzipped for clients that accept it
  (Starlette's ``GZipMiddleware``, between the input limits and the access log).
- CORS is closed unless ``settings.cors_origins`` names origins.
- Innermost, :class:`gridgis.api.fastpath.FeatureFastPath` answers a plain read of one feature
  without FastAPI's routing (every other request, and every refusal, goes to the routes).

Every layer here is plain ASGI (no ``BaseHTTPMiddleware``, which costs a task and a stream per request).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgis.api.bodies import DEFAULT_MAX_JSON_DEPTH, check_json_depth, is_json_type
from gridgis.errors import GridGISError
from gridgis.logs import request_id
from gridgis.settings import Settings

access_log = logging.getLogger("gridgis.access")
#: answers at least this long (bytes) are gzipped when the client sends ``Accept-Encoding: gzip``
GZIP_MIN_BYTES = 1000


class InputLimitMiddleware:
    """The input layer in front of every route (see :mod:`gridgis.api.bodies`).

    - A body larger than ``limit`` bytes is refused with 413 before the route runs: at once by
      ``Content-Length``, else as soon as the streamed (chunked) body passes the limit.
    - A JSON body nested deeper than ``max_json_depth`` is refused with 400.
    - A NUL byte in the path or in a query parameter (name or value) is refused with 400
      naming the parameter.

    The body is read here (bounded) and replayed to the route unchanged.
    """

    def __init__(self, app: ASGIApp, limit: int, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> None:
        self.app = app
        self.limit = limit
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _nul_parameter(scope)
        if bad is not None:
            name, where = bad
            await _send_problem(send, 400, "Bad request", f"{where} contains a NUL byte", parameter=name)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.limit
            except ValueError:
                too_large = False
            if too_large:
                await _send_413(send, self.limit)
                return
        bodiless = scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and length is None
        if bodiless and b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nothing to answer
            body = message.get("body", b"")
            received += len(body)
            if received > self.limit:
                await _send_413(send, self.limit)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        raw = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        if raw and (is_json_type(ctype) or (not ctype and raw.lstrip()[:1] in (b"[", b"{"))):
            try:
                check_json_depth(raw, self.max_json_depth)
            except GridGISError as err:
                await _send_problem(send, err.status, err.title, err.message)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _nul_parameter(scope: Scope) -> tuple[str, str] | None:
    """(parameter, description) of the first path or query part holding a NUL byte, or ``None``."""
    if "\x00" in scope.get("path", ""):
        return "path", "the path"
    query = scope.get("query_string", b"")
    if query and (b"%00" in query.lower() or b"\x00" in query):
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                shown = name.replace("\x00", "\\0")
                return shown, f"query parameter {shown!r}"
        return "query", "the query string"
    return None


async def _send_problem(send: Send, status: int, title: str, detail: str, **extra: object) -> None:
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}, ensure_ascii=False
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_413(send: Send, limit: int) -> None:
    await _send_problem(send, 413, "Payload too large", f"the request body is larger than the limit of {limit} bytes")


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class AccessLogMiddleware:
    """Echo or make ``X-Request-ID``, set it for every log line of the request, log one JSON line.

    A client's ``X-Request-ID`` is kept when it is 1–64 characters of ``A-Z a-z 0-9 . _ : -``
    (so nothing can be injected into the logs); otherwise a new id is generated.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1").strip()
        rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message["headers"] = kept + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "method": scope.get("method"),
                            "path": scope.get("path"),
                            "status": status,
                            "ms": round((time.perf_counter() - start) * 1000, 2),
                            "request_id": rid,
                        },
                        ensure_ascii=False,
                    )
                )
            # the request's task ends here; the id is not reset so that the outermost error
            # handler (which runs after this middleware returns) still logs it
            del token


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Install the middleware in the right order (outermost last)."""
    from gridgis.api.fastpath import FeatureFastPath

    app.add_middleware(FeatureFastPath)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Content-Crs", "X-Gridgis-Generation"],
            expose_headers=["ETag", "Location", "X-Request-Id", "X-Gridgis-Generation"],
        )
    app.add_middleware(
        InputLimitMiddleware,
        limit=settings.max_body_bytes,
        max_json_depth=getattr(settings, "max_json_depth", DEFAULT_MAX_JSON_DEPTH),
    )
    # every answer above GZIP_MIN_BYTES is gzipped for a client that accepts it (item lists, tiles,
    # problems); answers a route already encoded itself pass through unchanged
    app.add_middleware(
        GZipMiddleware, minimum_size=getattr(settings, "gzip_min_bytes", GZIP_MIN_BYTES), compresslevel=5
    )
    app.add_middleware(AccessLogMiddleware)


__all__ = ["AccessLogMiddleware", "InputLimitMiddleware", "install_middleware"]
