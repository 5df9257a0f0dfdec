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
        self, name: str, role: str, scopes: list[str] | tuple[str, ...] = (), expires_at: datetime | None = None
    ) -> tuple[str, TokenInfo]:
        """Store a new token; return ``(token, info)``. The token is not stored and cannot be shown again."""
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

    def revoke(self, token_id: str) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                auth_tokens.update().where(auth_tokens.c.token_id == token_id).values(revoked_at=datetime.now(UTC))
            ).rowcount
        if not done:
            raise NotFoundError(f"no token with id {token_id}; list them with `gridgis token list`")

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
        principal: Principal | None,
        method: str,
        path: str,
        action: str,
        status: int,
        layer: str | None = None,
        codes: list[str] | None = None,
        generation: int | None = None,
        message: str = "",
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=datetime.now(UTC),
                    principal=principal.name if principal else "(anonymous)",
                    role=principal.role if principal else "",
                    method=method,
                    path=path,
                    action=action,
                    layer=layer,
                    codes=list(codes or []),
                    generation=generation,
                    status=status,
                    message=message or "",
                )
            )

    def entries(self, limit: int = 100, principal: str | None = None) -> list[dict[str, Any]]:
        """The latest entries, newest first."""
        q = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if principal:
            q = q.where(audit_log.c.principal == principal)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [{**dict(r), "at": r["at"].isoformat()} for r in rows]
