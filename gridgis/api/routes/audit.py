"""API route: the audit log of every write, for admins. Thin: check, filter, answer.

- ``GET /audit?actor=&object=&since=&until=&action=&limit=`` → ``{"count", "entries": [...]}``, newest first.
  ``object`` is ``layer/code`` (``tickets/12``, ``grids/310115004004001``), a bare code, or a layer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gridgis.auth.deps import AuditDep, CurrentPrincipal
from gridgis.auth.store import MAX_AUDIT_LIMIT
from gridgis.auth.tokens import require

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    """One audited write: who (principal, role), when, what (method, path, action, layer, codes), result."""

    id: int
    at: str
    principal: str
    role: str
    method: str
    path: str
    action: str
    layer: str | None
    codes: list[str]
    generation: int | None
    status: int
    message: str


class AuditPage(BaseModel):
    count: int
    entries: list[AuditEntry]


@router.get(
    "/audit", response_model=AuditPage, summary="The audit log of writes (admin), filtered by actor, object and time"
)
def audit_entries(
    audit: AuditDep,
    principal: CurrentPrincipal,
    actor: Annotated[str | None, Query(max_length=200, description="the token holder's name, or anonymous")] = None,
    object: Annotated[str | None, Query(max_length=200, description="layer/code, a code, or a layer")] = None,
    since: Annotated[datetime | None, Query(description="from this time (inclusive, with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="before this time (with a zone)")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. ticket.create, token.revoke")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = 100,
) -> dict[str, Any]:
    require(principal, "read_audit", None, "reading the audit log")
    rows = audit.entries(limit=limit, principal=actor, object=object, since=since, until=until, action=action)
    return {"count": len(rows), "entries": rows}
