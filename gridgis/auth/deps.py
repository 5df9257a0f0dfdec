"""FastAPI dependencies for access control, shared by every router.

>>> # in a router:
>>> # from gridgis.auth.deps import CurrentPrincipal, require
>>> # def handler(principal: CurrentPrincipal): require(principal, "edit_boundaries", code)

``CurrentPrincipal`` is ``None`` without an ``Authorization`` header and raises 401 for a bad
token; :func:`gridgis.auth.tokens.require` then checks role and scope (401/403).
``ReadPrincipal`` additionally refuses anonymous reads when ``settings.public_reads`` is off.

Every dependency here is a coroutine: an anonymous request is checked on the event loop, with no
thread-pool hop; only a token's look-up (a database read) runs in the thread pool, once per
request (FastAPI caches :func:`get_principal` for the gate, the route and :func:`get_reader`).
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from gridgis.auth.store import AuditLog, TokenStore, ensure_tables
from gridgis.auth.tokens import Principal, require, token_of_header
from gridgis.errors import AuthError

_LOCK = threading.Lock()


def _open_stores(state: object) -> tuple[TokenStore, AuditLog]:
    with _LOCK:
        stores = getattr(state, "auth_stores", None)
        if stores is None:
            engine = state.repository.engine  # type: ignore[attr-defined]
            ensure_tables(engine)
            stores = (TokenStore(engine), AuditLog(engine))
            state.auth_stores = stores  # type: ignore[attr-defined]
    return stores


async def _stores(request: Request) -> tuple[TokenStore, AuditLog]:
    stores: tuple[TokenStore, AuditLog] | None = getattr(request.app.state, "auth_stores", None)
    if stores is None:  # the first time only: the tables are checked (database work) off the loop
        stores = await run_in_threadpool(_open_stores, request.app.state)
    return stores


async def get_token_store(request: Request) -> TokenStore:
    return (await _stores(request))[0]


async def get_audit_log(request: Request) -> AuditLog:
    return (await _stores(request))[1]


async def get_principal(request: Request) -> Principal | None:
    """The caller, from ``Authorization: Bearer <token>`` or ``Basic`` with the token as password.

    ``None`` when the header is absent; any header that is present but not a valid token is a 401,
    never ignored.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    token = token_of_header(header)
    store = await get_token_store(request)
    return await run_in_threadpool(store.authenticate, token)


#: (method, path template) answered to anonymous callers even when public reads are off: liveness,
#: the viewer's page shell, the matter catalogue and Open311's discovery/services (a public reporting
#: form needs them), Open311 posting (guarded by its own api_key) and the 12345 webhook (HMAC-signed).
#: Everything else needs a token.
ALWAYS_OPEN: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/map"),
        ("GET", "/matters"),
        ("GET", "/open311/discovery.json"),
        ("GET", "/open311/v2/services.{fmt}"),
        ("GET", "/open311/v2/services/{code}.{fmt}"),
        ("POST", "/open311/v2/requests.{fmt}"),
        ("POST", "/intake/12345"),  # the 12345 hotline's webhook: authenticated by its HMAC signature
    }
)


#: the non-read methods an anonymous caller may reach with public reads on: computations that take a
#: body and store nothing (or only preview), and the channels with their own authentication. Every
#: other write answers 401 to an anonymous caller before its body is read.
ANONYMOUS_POSTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/route"),
        ("POST", "/validate"),
        ("POST", "/collections/{layer}/validate"),
        ("POST", "/communities/{code}/alignment/proposal"),
        ("POST", "/communities/{code}/alignment/apply"),  # a dry run; committing needs a planner token
        ("POST", "/editing/import"),  # a preview; ?commit=true needs a planner token
        ("POST", "/viewer/impact"),
        ("POST", "/viewer/proposal/{community}"),
        ("POST", "/open311/v2/requests.{fmt}"),
        ("POST", "/intake/12345"),
    }
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_gate(principal: Principal | None, method: str, template: str, public_reads: bool) -> None:
    """The gate's rule (see :func:`gate`): :class:`AuthError` when ``principal`` may not call
    ``method`` on the route ``template`` at all; every path into the API calls it."""
    if principal is not None:
        return
    method = "GET" if method == "HEAD" else method
    if not public_reads and (method, template) not in ALWAYS_OPEN:
        raise AuthError("this server needs a token for every read (public reads are off)")
    if method not in READ_METHODS and (method, template) not in ANONYMOUS_POSTS:
        raise AuthError(f"{method} {template} needs a token: send 'Authorization: Bearer <token>'")


def check_reader(principal: Principal | None, public_reads: bool) -> None:
    """The rule of reads: anonymous allowed only when ``public_reads`` is on."""
    if principal is None and not public_reads:
        raise AuthError("reads need a token on this server (public reads are off)")


async def gate(request: Request, principal: Annotated[Principal | None, Depends(get_principal)]) -> Principal | None:
    """The app-wide first check of every route, before its parameters or body are interpreted.

    Any ``Authorization`` header is verified (401 when it is not a valid token: never ignored);
    with public reads off, an anonymous caller gets 401 everywhere but :data:`ALWAYS_OPEN`; an
    anonymous write gets 401 unless listed in :data:`ANONYMOUS_POSTS` (:func:`check_gate`).
    Role and scope are then checked by each route with :func:`require`.
    """
    if principal is not None:
        return principal
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    check_gate(principal, request.method, template, request.app.state.settings.public_reads)
    return principal


async def get_reader(
    request: Request, principal: Annotated[Principal | None, Depends(get_principal)]
) -> Principal | None:
    """The caller of a read: anonymous allowed when ``settings.public_reads`` is on."""
    check_reader(principal, request.app.state.settings.public_reads)
    return principal


CurrentPrincipal = Annotated[Principal | None, Depends(get_principal)]
ReadPrincipal = Annotated[Principal | None, Depends(get_reader)]
AuditDep = Annotated[AuditLog, Depends(get_audit_log)]
TokenStoreDep = Annotated[TokenStore, Depends(get_token_store)]

__all__ = [
    "ALWAYS_OPEN",
    "ANONYMOUS_POSTS",
    "AuditDep",
    "CurrentPrincipal",
    "ReadPrincipal",
    "TokenStoreDep",
    "check_gate",
    "check_reader",
    "gate",
    "get_audit_log",
    "get_principal",
    "get_reader",
    "get_token_store",
    "require",
]
