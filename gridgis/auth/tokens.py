"""Roles, permissions, scopes and token hashing: pure rules, no storage, no HTTP.

Roles (least to most power):

========= ==================================================================
viewer    reads every layer, even when public reads are off
reporter  creates tickets (e.g. a hotline operator)
worker    handles tickets in the grids of its scope
planner   edits boundaries in the streets/communities of its scope
admin     everything, everywhere; manages tokens
========= ==================================================================

A scope is a list of codes: a street code (``…000``) covers everything under the street, a
community (12 digits) or grid (15 digits) code everything whose code starts with it, and
``*`` covers everything. Tokens look like ``ggt_<id>.<secret>``; only the id, a random salt and
``sha256(salt + secret)`` are stored, so a leaked database gives no usable token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from gridgis.codes import lies_in
from gridgis.errors import AuthError, ForbiddenError, ValidationError

ROLES: tuple[str, ...] = ("viewer", "reporter", "worker", "planner", "admin")

#: action -> roles allowed to do it
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "report": frozenset({"reporter", "worker", "planner", "admin"}),
    "handle_tickets": frozenset({"worker", "admin"}),
    "edit_boundaries": frozenset({"planner", "admin"}),
    "manage_tokens": frozenset({"admin"}),
    "read_audit": frozenset({"admin"}),
    # merging a ticket into a master of another matter: an explicit override, not a worker's call
    "merge_across_matters": frozenset({"planner", "admin"}),
}
#: kind of personal data -> roles that need it (inside their scope; admins everywhere).
#: ``people_in_tickets``: reporters' names and contacts, event actors and notes, assignees;
#: ``worker_contacts``: grid workers' phones (planners edit the grids that hold them).
PERSONAL_DATA: dict[str, frozenset[str]] = {
    "people_in_tickets": frozenset({"worker", "admin"}),
    "worker_contacts": frozenset({"worker", "planner", "admin"}),
}
TOKEN_PREFIX = "ggt_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, role and scope codes."""

    name: str
    role: str
    scopes: tuple[str, ...] = field(default_factory=tuple)
    token_id: str | None = None

    def can(self, action: str) -> bool:
        """True when the role allows ``action`` (see :data:`PERMISSIONS`)."""
        return self.role in PERMISSIONS.get(action, frozenset())

    def covers(self, code: str) -> bool:
        """True when ``code`` lies inside this principal's scope.

        >>> p = Principal("王规划", "planner", ("110105001000",))
        >>> p.covers("110105001002003"), p.covers("110105002001001")
        (True, False)
        >>> Principal("李", "planner", ("110105001001",)).covers("110105001002Q001")
        False
        """
        if self.role == "admin":
            return True
        return any(scope_covers(s, code) for s in self.scopes)


def sees_personal_data(principal: Principal | None, kind: str, code: str | None) -> bool:
    """True when ``principal`` may see personal data of ``kind`` about the object ``code``.

    The one rule of who sees people: admins everywhere; the roles of :data:`PERSONAL_DATA`
    inside their scope; nobody else (anonymous, viewers, reporters, other scopes).

    >>> w = Principal("李", "worker", ("310115004000",))
    >>> sees_personal_data(w, "people_in_tickets", "310115004004001"), sees_personal_data(w, "people_in_tickets", "310115005039001")
    (True, False)
    >>> sees_personal_data(None, "worker_contacts", "310115004004001")
    False
    """
    if principal is None or principal.role not in PERSONAL_DATA[kind]:
        return False
    return principal.role == "admin" or (code is not None and principal.covers(code))


def scope_covers(scope: str, code: str) -> bool:
    """True when scope code ``scope`` covers feature code ``code``.

    >>> scope_covers("110105001000", "110105001000S001"), scope_covers("110105001001", "110105001000")
    (True, False)
    """
    if scope == "*":
        return True
    return lies_in(code, scope)


def check_scopes(role: str, scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Validate a role and its scope codes; return the scopes as a tuple.

    >>> check_scopes("planner", ["110105001000"])
    ('110105001000',)
    """
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    out = []
    for s in scopes:
        s = s.strip()
        if s != "*" and not (s.isdigit() and len(s) in (12, 15)):
            raise ValidationError(
                f"scope {s!r} is not a street/community code (12 digits), a grid code (15 digits) or '*'"
            )
        out.append(s)
    if role in ("planner", "worker") and not out:
        raise ValidationError(f"a {role} token needs at least one scope (--scope CODE, or '*' for everywhere)")
    return tuple(out)


def require(principal: Principal | None, action: str, code: str | None = None, what: str = "") -> Principal:
    """Return ``principal`` when it may do ``action`` (on ``code``); raise 401/403 otherwise."""
    if principal is None:
        raise AuthError(
            f"{what or action} needs a token: send 'Authorization: Bearer <token>' "
            "(create one with `gridgis token create`)"
        )
    if not principal.can(action):
        allowed = sorted(PERMISSIONS.get(action, ()), key=ROLES.index)
        raise ForbiddenError(
            f"{principal.name} is a {principal.role}; {what or action} needs one of the roles {', '.join(allowed)}"
        )
    if code is not None and not principal.covers(code):
        scopes = ", ".join(principal.scopes) or "none"
        raise ForbiddenError(
            f"{code} is outside the scope of {principal.name} ({scopes}); ask an admin for a token that covers it"
        )
    return principal


def new_token() -> tuple[str, str, str]:
    """A fresh token: ``(token_id, secret, token)`` where ``token`` is what the client sends."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{TOKEN_PREFIX}{token_id}.{secret}"


def split_token(token: str) -> tuple[str, str]:
    """``(token_id, secret)`` of a token; :class:`AuthError` when it is not one of ours."""
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX) or "." not in token:
        raise AuthError("the bearer token is not a gridgis token (ggt_…); create one with `gridgis token create`")
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition(".")
    if not token_id or not secret:
        raise AuthError("the bearer token is incomplete")
    return token_id, secret


def token_of_header(header: str) -> str:
    """The token carried by an ``Authorization`` header: ``Bearer <token>`` or ``Basic`` (token as password).

    Basic is for clients that only speak it (QGIS's built-in "Basic" authentication): any user
    name, the token as the password. Anything else is an :class:`AuthError` (401).

    >>> token_of_header("Bearer ggt_ab.cd")
    'ggt_ab.cd'
    >>> token_of_header("Basic " + base64.b64encode("王规划:ggt_ab.cd".encode()).decode())
    'ggt_ab.cd'
    """
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise AuthError(
                "the Basic credentials are not base64 of 'user:token'; put the gridgis token in the password"
            ) from None
        _, colon, password = decoded.partition(":")
        if not colon or not password.strip():
            raise AuthError("Basic authentication needs the gridgis token as the password (any user name)")
        return password.strip()
    raise AuthError("send the token as 'Authorization: Bearer <token>' (or Basic with the token as the password)")


def hash_secret(secret: str, salt: str) -> str:
    """``sha256(salt + secret)`` as hex: what is stored instead of the secret."""
    return hashlib.sha256((salt + secret).encode("utf-8")).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def verify_secret(secret: str, salt: str, stored_hash: str) -> bool:
    """Constant-time check of ``secret`` against the stored salt and hash."""
    return hmac.compare_digest(hash_secret(secret, salt), stored_hash)
