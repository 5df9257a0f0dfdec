"""Read-your-writes over HTTP: the generation floor of each request (rule in :mod:`gridgis.storage.consistency`).

A request's floor is its ``X-Gridgis-Generation`` header, else its ``gridgis_generation`` cookie.
An answer to a request that committed generation N carries ``X-Gridgis-Generation: N`` and sets
the cookie (``Path=/``, ``HttpOnly``, ``SameSite=Lax``, for the browser session), so the
planner's next reads — from the same browser, or from a client that copies the header — are
never served by a replica that has not replayed N.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgis.storage.consistency import COOKIE, HEADER, parse_floor, read_floor

_HEADER = HEADER.lower().encode("latin-1")


def request_floor(headers: list[tuple[bytes, bytes]]) -> int:
    """The floor a request asks for: the header, else the cookie, else 0.

    >>> request_floor([(b"x-gridgis-generation", b"12")]), request_floor([(b"cookie", b"a=1; gridgis_generation=5")])
    (12, 5)
    """
    cookie_floor = 0
    for name, value in headers:
        if name == _HEADER:
            return parse_floor(value.decode("latin-1"))
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a malformed cookie header asks for nothing
                continue
            if COOKIE in jar:
                cookie_floor = max(cookie_floor, parse_floor(jar[COOKIE].value))
    return cookie_floor


class GenerationFloorMiddleware:
    """Runs each HTTP request inside :func:`~gridgis.storage.consistency.read_floor` and reports
    the generation it committed (header and cookie)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with read_floor(request_floor(scope.get("headers") or [])) as floor:

            async def send_with_generation(message: Message) -> None:
                if message["type"] == "http.response.start" and floor.written is not None:
                    value = str(floor.written).encode("latin-1")
                    headers = list(message.get("headers") or [])
                    headers.append((_HEADER, value))
                    headers.append(
                        (b"set-cookie", f"{COOKIE}={floor.written}; Path=/; HttpOnly; SameSite=Lax".encode())
                    )
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_generation)
