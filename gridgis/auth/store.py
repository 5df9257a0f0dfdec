"""Tokens and the audit log in the database (the tables of :mod:`gridgis.auth.tables`).

Works on any SQLAlchemy engine of the store (SQLite or PostGIS). The plain token is shown
once, at creation; afterwards only its hash exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from gridgis.auth.tables import audit_log, auth_tokens
from gridgis.auth.tokens import Principal, check_scopes, hash_secret, new_salt, new_token, split_token, verify_secret
from gridgis.errors import AuthError, NotFoundError, ValidationError


def ensure_tables(engine: sa.Engine) -> None:
    """Create the auth tables when missing (databases made before migration 0003, tests)."""
    auth_tokens.metadata.create_all(engine, tables=[auth_tokens, audit_log], checkfirst=True)


@dataclass(frozen=True)
class TokenInfo:
    """What is known about a stored token (never its secret)."""

    token_id: str
    name: str
    role: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenStore:
    """Create, verify, list and revoke bearer tokens."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(
        self,
        name: str,
        role: str,
        scopes: list[str] | tuple[str, ...] = (),
        expires_at: datetime | None = None,
        actor: Principal | str | None = None,
    ) -> tuple[str, TokenInfo]:
        """Store a new token; return ``(token, info)``. The token is not stored and cannot be shown again.

        The creation is audited (``token.create`` by ``actor``) in the same transaction.
        """
        if not name or not name.strip():
            raise ValidationError("a token needs a name (who holds it), e.g. --name 王规划")
        scopes = check_scopes(role, scopes)
        token_id, secret, token = new_token()
        salt = new_salt()
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                auth_tokens.insert().values(
                    token_id=token_id,
                    name=name.strip(),
                    role=role,
                    scopes=list(scopes),
                    salt=salt,
                    secret_hash=hash_secret(secret, salt),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            scope_text = ",".join(scopes) or "-"
            conn.execute(
                audit_log.insert().values(
                    **audit_values(
                        actor or _cli_actor(),
                        "CLI",
                        "token",
                        "token.create",
                        201,
                        "tokens",
                        [token_id],
                        message=f"{name.strip()} ({role}; scopes {scope_text})",
                    )
                )
            )
        return token, TokenInfo(token_id, name.strip(), role, scopes, now, expires_at, None)

    def authenticate(self, token: str) -> Principal:
        """The principal of ``token``; :class:`AuthError` when unknown, revoked, expired or wrong."""
        token_id, secret = split_token(token)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(auth_tokens).where(auth_tokens.c.token_id == token_id)).mappings().first()
        if row is None or not verify_secret(secret, row["salt"], row["secret_hash"]):
            raise AuthError("the bearer token is not valid; ask an admin for a new one")
        if row["revoked_at"] is not None:
            raise AuthError(f"the token of {row['name']} was revoked; ask an admin for a new one")
        if row["expires_at"] is not None and row["expires_at"] < datetime.now(UTC):
            raise AuthError(f"the token of {row['name']} has expired; ask an admin for a new one")
        return Principal(row["name"], row["role"], tuple(row["scopes"] or ()), token_id)

    def revoke(self, token_id: str, actor: Principal | str | None = None) -> None:
        """Revoke a token (audited as ``token.revoke`` by ``actor`` in the same transaction)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                auth_tokens.update().where(auth_tokens.c.token_id == token_id).values(revoked_at=datetime.now(UTC))
            ).rowcount
            if not done:
                raise NotFoundError(f"no token with id {token_id}; list them with `gridgis token list`")
            conn.execute(
                audit_log.insert().values(
                    **audit_values(actor or _cli_actor(), "CLI", "token", "token.revoke", 200, "tokens", [token_id])
                )
            )

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(auth_tokens).order_by(auth_tokens.c.id)).mappings().all()
        return [
            TokenInfo(
                r["token_id"],
                r["name"],
                r["role"],
                tuple(r["scopes"] or ()),
                r["created_at"],
                r["expires_at"],
                r["revoked_at"],
            )
            for r in rows
        ]


class AuditLog:
    """Append-only record of every write: who, what, when, which generation, with what result."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(
        self,
        principal: Principal | str | None,
        method: str,
        path: str,
        action: str,
        status: int,
        layer: str | None = None,
        codes: list[str] | None = None,
        generation: int | None = None,
        message: str = "",
        conn: sa.Connection | None = None,
    ) -> None:
        """Append one entry; inside ``conn`` (the write's own transaction) when given, so the write
        and its audit commit or roll back together. ``principal`` may be a plain name (the CLI,
        ``anonymous``)."""
        values = audit_values(principal, method, path, action, status, layer, codes, generation, message)
        if conn is not None:
            conn.execute(audit_log.insert().values(**values))
            return
        with self.engine.begin() as own:
            own.execute(audit_log.insert().values(**values))

    def entries(
        self,
        limit: int = 100,
        principal: str | None = None,
        object: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """The latest entries, newest first, filtered by actor (``principal``), object, time and action.

        ``object`` is ``layer/code`` (``tickets/12``, ``grids/310115004004001``), a bare code, or a
        layer name; ``since`` is inclusive, ``until`` exclusive.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise ValidationError(f"limit must be a whole number from 1 to {MAX_AUDIT_LIMIT}, got {limit!r}")
        q = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if principal:
            q = q.where(audit_log.c.principal == principal)
        if action:
            q = q.where(audit_log.c.action == action)
        if since is not None:
            q = q.where(audit_log.c.at >= _utc(since))
        if until is not None:
            q = q.where(audit_log.c.at < _utc(until))
        if object:
            q = q.where(_object_filter(object))
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


MAX_AUDIT_LIMIT = 10_000


def _cli_actor() -> str:
    """Who runs a command on this machine: ``cli:<OS user>`` (the CLI has no token)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValidationError(f"time {value.isoformat()} has no time zone; add one, e.g. +08:00")
    return value.astimezone(UTC)


def _object_filter(obj: str) -> sa.ColumnElement[bool]:
    """``layer/code`` → that layer and code; a bare code → any layer; a bare layer name → that layer."""
    layer, slash, code = obj.partition("/")
    in_codes = sa.cast(audit_log.c.codes, sa.Text).like(f'%"{_like_escape(code or layer)}"%', escape="\\")
    if slash:
        return sa.and_(audit_log.c.layer == layer, in_codes) if code else audit_log.c.layer == layer
    return sa.or_(audit_log.c.layer == layer, in_codes)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def audit_values(
    principal: Principal | str | None,
    method: str,
    path: str,
    action: str,
    status: int,
    layer: str | None = None,
    codes: list[str] | None = None,
    generation: int | None = None,
    message: str = "",
) -> dict[str, Any]:
    """The row of one audit entry (the columns of :data:`gridgis.auth.tables.audit_log`)."""
    if isinstance(principal, Principal):
        name, role = principal.name, principal.role
    else:
        name, role = (principal or "anonymous"), ""
    return {
        "at": datetime.now(UTC),
        "principal": name,
        "role": role,
        "method": method,
        "path": path,
        "action": action,
        "layer": layer,
        "codes": [str(c) for c in (codes or [])],
        "generation": generation,
        "status": status,
        "message": message or "",
    }
