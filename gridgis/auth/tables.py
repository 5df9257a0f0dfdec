"""The tables of access control on the shared storage metadata (created by migration 0003)."""

from __future__ import annotations

import sqlalchemy as sa

from gridgis.storage.schema import BigIntPK, JSONType, UTCDateTime, metadata

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("token_id", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("principal", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("layer", sa.String(32), nullable=True),
    sa.Column("codes", JSONType, nullable=False),
    sa.Column("generation", sa.BigInteger, nullable=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_audit_log_at", "at"),
)

__all__ = ["audit_log", "auth_tokens"]
