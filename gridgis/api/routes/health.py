"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from gridgis.api.deps import RepositoryDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the store answers")
def ready(repository: RepositoryDep) -> dict[str, object]:
    repository.ping()
    return {"status": "ready"}
