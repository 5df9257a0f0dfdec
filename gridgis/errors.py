"""The one exception hierarchy of gridgis.

Every error names the object at fault (layer, code, name) and says what to do next.
The API maps these classes to HTTP status codes in one table (``gridgis.api.errors``);
the library itself never imports FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One located problem found while validating input.

    ``feature`` identifies the feature (code, name or row index); ``where`` is an
    optional location (lon/lat in EPSG:4326) so a planner can find it on a map.
    """

    message: str
    feature: str | None = None
    layer: str | None = None
    kind: str = "invalid"
    where: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.layer is not None:
            out["layer"] = self.layer
        if self.feature is not None:
            out["feature"] = self.feature
        if self.where is not None:
            out["where"] = list(self.where)
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        prefix = " ".join(p for p in (self.layer, self.feature) if p)
        return f"{prefix}: {self.message}" if prefix else self.message


class GridGISError(Exception):
    """Base class of every gridgis error.

    ``problems`` carries every located problem when more than one was found, so a
    refused import or edit reports all of them at once.
    """

    status = 400
    title = "Bad request"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  … and {len(self.problems) - 50} more")
        return "\n".join(lines)


class ValidationError(GridGISError):
    """Input that breaks a rule of the model: geometry, codes, attributes."""

    status = 422
    title = "Invalid input"


class InvalidGeometryError(ValidationError):
    """A geometry that is invalid, self-intersecting, empty or of the wrong type."""

    title = "Invalid geometry"


class CodeError(ValidationError):
    """A code that does not follow the code rules, or is unknown or duplicated."""

    title = "Invalid code"


class CRSError(GridGISError):
    """A missing, unknown or mismatched coordinate reference system."""

    status = 400
    title = "Bad coordinate reference system"


class OutOfAreaError(GridGISError):
    """Coordinates outside China, or outside the service area."""

    status = 422
    title = "Outside the service area"


class MisdirectedError(GridGISError):
    """A point of a county this routing pool does not hold (``gridgis serve --counties``); HTTP 421
    Misdirected Request, so the front sends it to the pool that holds that county."""

    status = 421
    title = "Misdirected request: another routing pool holds this county"

    def __init__(self, message: str, counties: list[str] | None = None) -> None:
        super().__init__(message)
        self.counties = sorted(set(counties or []))


class MalformedInputError(GridGISError):
    """Input that cannot be parsed at all: malformed GeoJSON, bad CSV, bad encoding."""

    status = 400
    title = "Malformed input"


class InvalidParameterError(MalformedInputError):
    """A query or path parameter out of its range or not in its format (``bbox``, ``limit``, …).

    OGC API – Features Part 1 answers these with 400; ``parameter`` names the one at fault.
    """

    title = "Invalid parameter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class PayloadTooLargeError(GridGISError):
    """A payload (body, batch, geometry) over its configured limit."""

    status = 413
    title = "Payload too large"


class NotFoundError(GridGISError):
    """An unknown code, layer, ticket or generation."""

    status = 404
    title = "Not found"


class ConflictError(GridGISError):
    """A write that conflicts with the stored state (duplicate code, stale version)."""

    status = 409
    title = "Conflict"


class PreconditionFailedError(ConflictError):
    """A write whose If-Match or version does not match the stored one."""

    status = 412
    title = "Precondition failed"


class PreconditionRequiredError(ConflictError):
    """A write that carries neither If-Match nor a version."""

    status = 428
    title = "Precondition required"


class DuplicateExternalIdError(ConflictError):
    """A report whose ``external_id`` is already a stored ticket with other content (nothing stored).

    ``members`` are the problem+json members the API adds: the external id, the stored ticket's id
    and the compared fields that differ.
    """

    status = 409
    title = "External id already used"

    def __init__(self, external_id: str, ticket_id: int, fields: list[str]) -> None:
        self.external_id, self.ticket_id, self.fields = external_id, int(ticket_id), list(fields)
        super().__init__(
            f"external_id {external_id!r} is already ticket {ticket_id}, whose {', '.join(fields)} "
            "differ from this report; nothing was stored. Re-send the same report to get that ticket, "
            "or give this report an external_id of its own"
        )

    @property
    def members(self) -> dict[str, Any]:
        return {"external_id": self.external_id, "ticket_id": self.ticket_id, "fields": self.fields}


class TransitionError(ConflictError):
    """A ticket state transition that the closed loop does not allow."""

    status = 409
    title = "Invalid transition"


class AuthError(GridGISError):
    """Missing or bad credentials."""

    status = 401
    title = "Unauthorized"


class ForbiddenError(GridGISError):
    """Valid credentials without the role or scope for this action."""

    status = 403
    title = "Forbidden"


class StorageUnavailableError(GridGISError):
    """The database cannot be reached; the request may be retried."""

    status = 503
    title = "Storage unavailable"


class SchemaOutdatedError(StorageUnavailableError):
    """The store's schema is older than this gridgis needs (``gridgis db upgrade`` migrates it)."""

    title = "Store schema out of date"
