"""FastAPI dependencies for access control, shared by every router.

>>> # in a router:
>>> # from gridgis.auth.deps import CurrentPrincipal, require
>>> # def handler(principal: CurrentPrincipal): require(principal, "edit_boundaries", code)

``CurrentPrincipal`` is ``None`` without an ``Authorization`` header and raises 401 for a bad
token; :func:`gridgis.auth.tokens.require` then checks role and scope (401/403).
``ReadPrincipal`` additionally refuses anonymous reads when ``settings.public_reads`` is off.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from gridgis.auth.store import AuditLog, TokenStore, ensure_tables
from gridgis.auth.tokens import Principal, require, token_of_header
from gridgis.errors import AuthError

_LOCK = threading.Lock()


def _stores(request: Request) -> tuple[TokenStore, AuditLog]:
    state = request.app.state
    with _LOCK:
        stores = getattr(state, "auth_stores", None)
        if stores is None:
            engine = state.repository.engine
            ensure_tables(engine)
            stores = (TokenStore(engine), AuditLog(engine))
            state.auth_stores = stores
    return stores


def get_token_store(request: Request) -> TokenStore:
    return _stores(request)[0]


def get_audit_log(request: Request) -> AuditLog:
    return _stores(request)[1]


def get_principal(request: Request) -> Principal | None:
    """The caller, from ``Authorization: Bearer <token>`` or ``Basic`` with the token as password.

    ``None`` when the header is absent; any header that is present but not a valid token is a 401,
    never ignored.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    return get_token_store(request).authenticate(token_of_header(header))


#: (method, path template) answered to anonymous callers even when public reads are off: liveness,
#: the viewer's page shell, the matter catalogue and Open311's discovery/services (a public reporting
#: form needs them) and Open311 posting (guarded by its own api_key). Everything else needs a token.
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
    }
)


def gate(request: Request, principal: Annotated[Principal | None, Depends(get_principal)]) -> Principal | None:
    """The app-wide first check of every route, before its parameters or body are interpreted.

    Any ``Authorization`` header is verified (401 when it is not a valid token: never ignored);
    with public reads off, an anonymous caller gets 401 everywhere but :data:`ALWAYS_OPEN`.
    Role and scope are then checked by each route with :func:`require`.
    """
    if principal is None and not request.app.state.settings.public_reads:
        route = request.scope.get("route")
        template = getattr(route, "path", request.url.path)
        method = "GET" if request.method == "HEAD" else request.method
        if (method, template) not in ALWAYS_OPEN:
            raise AuthError("this server needs a token for every read (public reads are off)")
    return principal


def get_reader(request: Request) -> Principal | None:
    """The caller of a read: anonymous allowed when ``settings.public_reads`` is on."""
    principal = get_principal(request)
    if principal is None and not request.app.state.settings.public_reads:
        raise AuthError("reads need a token on this server (public reads are off)")
    return principal


CurrentPrincipal = Annotated[Principal | None, Depends(get_principal)]
ReadPrincipal = Annotated[Principal | None, Depends(get_reader)]
AuditDep = Annotated[AuditLog, Depends(get_audit_log)]
TokenStoreDep = Annotated[TokenStore, Depends(get_token_store)]

__all__ = [
    "ALWAYS_OPEN",
    "AuditDep",
    "CurrentPrincipal",
    "ReadPrincipal",
    "TokenStoreDep",
    "gate",
    "get_audit_log",
    "get_principal",
    "get_reader",
    "get_token_store",
    "require",
]
