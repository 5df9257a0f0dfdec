"""Cross-cutting HTTP concerns: body size limit, request ids and structured access logs, CORS.

- Bodies over ``settings.max_body_bytes`` are refused with 413 before they are read whole
  (by ``Content-Length`` when given, else while streaming).
- Every response carries ``X-Request-Id``; one JSON log line per request (method, path,
  status, duration in ms, request id) on the ``gridgis.access`` logger.
- CORS is closed unless ``settings.cors_origins`` names origins.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgis.settings import Settings

access_log = logging.getLogger("gridgis.access")


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``limit`` bytes with a problem+json 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_413(send, self.limit)


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": f"the request body is larger than the limit of {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """Add ``X-Request-Id`` and write one structured (JSON) log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
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
                            "request_id": request_id,
                        },
                        ensure_ascii=False,
                    )
                )


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Install the middleware in the right order (outermost last)."""
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Content-Crs"],
            expose_headers=["ETag", "Location", "X-Request-Id"],
        )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)


def configure_logging(level: str = "INFO") -> None:
    """Structured logs: one JSON object per line on stderr."""

    class _JSONFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            msg = record.getMessage()
            if msg.startswith("{"):
                try:
                    payload = json.loads(msg)
                except ValueError:
                    payload = {"message": msg}
            else:
                payload = {"message": msg}
            payload.update(
                {"level": record.levelname, "logger": record.name, "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S")}
            )
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
            return json.dumps(payload, ensure_ascii=False)

    handler = logging.StreamHandler()
    handler.setFormatter(_JSONFormatter())
    root = logging.getLogger("gridgis")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
