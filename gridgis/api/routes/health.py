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


@router.get(
    "/ready",
    summary="Readiness: the store answers and its schema is the one this gridgis needs",
    description="503 problem+json when the store is down or its schema is older than this gridgis "
    "(`gridgis db upgrade` migrates it); the answer names the schema revision and warns about the calendar.",
    **documented(Ready),
)
def ready(repository: RepositoryDep) -> dict[str, object]:
    from datetime import datetime, timedelta

    from gridgis.tickets.calendar import SHANGHAI, calendar_warning, default_calendar

    repository.ping()
    body: dict[str, object] = {"status": "ready", "schema": repository.check_schema()}
    now = datetime.now(SHANGHAI)
    cal = default_calendar()
    body["calendar"] = {"known_years": sorted(cal.years)}
    # a deadline set today may run 60 days ahead: warn before the year turns, not after
    warning = calendar_warning(cal, now, now + timedelta(days=60))
    if warning:
        body["warnings"] = [warning]
    return body
