"""Open311 GeoReport v2 documents (JSON; the ``.xml`` forms carry the same members)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from gridgis.api.schemas.common import Open


class Endpoint(Open):
    specification: str
    url: str
    changeset: str | None = None
    type: str | None = None
    formats: list[str] = Field(default_factory=list)


class Discovery(Open):
    changeset: str | None = None
    contact: str | None = None
    key_service: str | None = None
    endpoints: list[Endpoint]


class Service(Open):
    service_code: str
    service_name: str | None = None
    description: str | None = None
    metadata: bool | None = None
    type: str | None = None
    keywords: str | None = None
    group: str | None = None


class Services(RootModel[list[Service]]):
    """``services.json``: the matter catalogue as services."""


class ServiceDefinition(Open):
    service_code: str
    attributes: list[dict[str, Any]]


class ServiceRequest(Open):
    service_request_id: str | None = None
    status: str | None = None
    service_code: str | None = None
    service_notice: str | None = None
    account_id: str | None = None
    token: str | None = None


class ServiceRequests(RootModel[list[ServiceRequest]]):
    """A list of service requests (``requests.json``; a new one answers a list of one)."""


class ServiceRequestIn(Open):
    """The form of ``POST requests.{fmt}`` (``application/x-www-form-urlencoded``)."""

    api_key: str | None = None
    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    description: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    media_url: str | None = None
    attribute: dict[str, Any] | None = Field(None, description="attribute[code]=value pairs of the service definition")


class Open311Error(Open):
    code: int
    description: str


class Open311Errors(RootModel[list[Open311Error]]):
    """Errors in GeoReport v2 form (not problem+json)."""


#: the error answers of the Open311 router
OPEN311_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Open311Errors, "description": text}
    for status, text in (
        (400, "Bad request"),
        (403, "Invalid api_key"),
        (404, "Not found"),
        (422, "Invalid request"),
    )
}
