"""Liveness and readiness."""

from __future__ import annotations

from gridgis.api.schemas.common import Open


class Health(Open):
    status: str


class Ready(Open):
    status: str
