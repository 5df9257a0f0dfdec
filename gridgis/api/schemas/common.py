"""Shared pieces: problem+json, links, generations, GeoJSON, and the OpenAPI helpers."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"


class Open(BaseModel):
    """A JSON object that may carry members beyond the declared ones."""

    model_config = ConfigDict(extra="allow")


class ProblemDetail(Open):
    """One located problem (a feature, a field, a query parameter)."""

    message: str | None = None
    kind: str | None = None
    layer: str | None = None
    feature: str | None = None


class Problem(Open):
    """An error answer (RFC 9457 ``application/problem+json``)."""

    type: str = Field("about:blank", description="a URI naming the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str | None = Field(None, description="what went wrong here and what to do")
    problems: list[ProblemDetail] | None = Field(None, description="every located problem, when there are several")


class Link(Open):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class GenerationOut(Open):
    """One boundary generation (a version of every layer)."""

    id: int
    created_at: str = Field(description="ISO 8601 time it was stored")
    author: str
    message: str


class Geometry(Open):
    """A GeoJSON geometry (RFC 7946)."""

    type: str = Field(examples=["Polygon", "MultiPolygon", "Point", "LineString"])
    coordinates: Any = None


class Feature(Open):
    """A GeoJSON feature."""

    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: Geometry | None
    properties: dict[str, Any] | None


class FeatureCollection(Open):
    """A GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]


_STATUS_TEXT = {
    400: "Bad request: malformed input or a query parameter out of range",
    401: "Unauthorized: no or a bad token",
    403: "Forbidden: the token's role or scope does not cover this",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed: the object changed since it was read",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input: the request breaks a rule of the model",
    428: "Precondition required: say which version you edited",
    503: "Service unavailable: the store does not answer",
}

#: models referenced from hand-written parts of the OpenAPI document (added to its components)
_EXTRA_MODELS: dict[str, type[BaseModel]] = {"Problem": Problem}

#: the error answers every router documents (``app.include_router(..., responses=ERROR_RESPONSES)``)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, text in _STATUS_TEXT.items()
}


def request_body(
    model: type[BaseModel] | None,
    *media_types: str,
    required: bool = True,
    description: str | None = None,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` declaring the request body of a handler that reads the raw body itself.

    The model's schema goes into ``components/schemas`` (see :func:`install_openapi`); ``schema``
    replaces it for bodies that are not JSON (a GeoPackage, a form).

    >>> request_body(Problem, "application/json")["requestBody"]["content"]["application/json"]
    {'schema': {'$ref': '#/components/schemas/Problem'}}
    """
    if model is not None:
        _EXTRA_MODELS[model.__name__] = model
        ref: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
    else:
        ref = schema or {}
    body: dict[str, Any] = {
        "required": required,
        "content": {mt: {"schema": ref} for mt in (media_types or ("application/json",))},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def documented(
    model: type[BaseModel], status: int = 200, media_type: str = "application/json", description: str = "Success"
) -> dict[str, Any]:
    """Route keyword arguments naming ``model`` as the ``status`` answer (``@router.get(..., **documented(X))``).

    The handler's return value is not re-validated (``response_model=None``): handlers that build
    GeoJSON or stream files answer as they do, and ``tests/ops/test_schema_fuzz.py`` checks the
    answers against these schemas over HTTP.

    >>> documented(Problem, 201)["responses"][201]["content"]
    {'application/json': {'schema': {'$ref': '#/components/schemas/Problem'}}}
    """
    _EXTRA_MODELS[model.__name__] = model
    return {
        "response_model": None,
        "responses": {
            status: {
                "description": description,
                "content": {media_type: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
            }
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Generate ``/openapi.json`` with the models of hand-read request bodies in ``components``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _EXTRA_MODELS.items():
            js = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
            for sub, sub_schema in js.pop("$defs", {}).items():
                schemas.setdefault(sub, sub_schema)
            schemas.setdefault(name, js)
        _drop_empty_json(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_empty_json(spec: dict[str, Any]) -> None:
    """Remove FastAPI's placeholder ``application/json: {schema: {}}`` where a 2xx answer is documented
    in another media type (GeoJSON, XML, HTML, a GeoPackage)."""
    for ops in spec.get("paths", {}).values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            for code, resp in op.get("responses", {}).items():
                content = resp.get("content") if str(code).startswith("2") else None
                if not content or len(content) < 2:
                    continue
                placeholder = content.get("application/json")
                if placeholder is not None and not placeholder.get("schema"):
                    del content["application/json"]
