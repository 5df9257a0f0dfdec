"""Liveness and readiness."""

from __future__ import annotations

from pydantic import Field

from gridgis.api.schemas.common import Open


class Health(Open):
    status: str


class Ready(Open):
    status: str
    #: the store's Alembic revision (the newest this gridgis knows, else /ready answers 503)
    schema_: str | None = Field(None, alias="schema")
