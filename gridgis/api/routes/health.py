"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from gridgis.api.deps import RepositoryDep
from gridgis.api.schemas.common import documented
from gridgis.api.schemas.health import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers", **documented(Health))
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the store answers", **documented(Ready))
def ready(repository: RepositoryDep) -> dict[str, object]:
    repository.ping()
    return {"status": "ready"}
