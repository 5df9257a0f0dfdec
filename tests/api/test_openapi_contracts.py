"""The published contract (/openapi.json): every operation names its answer's model, every write
its request body, every error is problem+json; and the document resolves (no dangling $ref)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from gridgis.api.app import create_app
from gridgis.settings import get_settings
from gridgis.storage import Repository

METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch")
#: writes that take no body by design: their input is the path, the query and headers
NO_BODY = {
    "POST /generations/{generation}/revert",  # the generation is in the path; the message in X-Gridgis-Message
    "POST /tickets/escalations",  # escalates every overdue ticket; the actor is a query parameter
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'g.db'}"
    repo = Repository(url)
    with TestClient(create_app(get_settings(database_url=url), repo)) as client:
        resp = client.get("/openapi.json")
    repo.dispose()
    assert resp.status_code == 200
    return resp.json()


def _operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", method, op


def _resolve(spec, schema):
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def _meaningful(spec, schema) -> bool:
    """A schema that tells a client something: a model with members, an array of them, a typed string."""
    if not schema:
        return False
    schema = _resolve(spec, schema)
    if schema.get("properties") or schema.get("anyOf") or schema.get("oneOf"):
        return True
    if schema.get("type") == "array":
        return _meaningful(spec, schema.get("items", {}))
    return schema.get("type") == "string"


def test_the_api_has_the_operations_it_documents(spec):
    assert len(list(_operations(spec))) >= 55


def test_every_operation_declares_a_2xx_answer_with_a_schema(spec):
    missing = []
    for name, _, op in _operations(spec):
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert ok, f"{name} documents no 2xx answer"
        for code, resp in ok.items():
            if code == "204":
                continue  # no content by definition
            content = resp.get("content") or {}
            if not content or not all(_meaningful(spec, c.get("schema", {})) for c in content.values()):
                missing.append(f"{name} {code}: {json.dumps(content)[:120]}")
    assert not missing, "operations without a 2xx answer model:\n" + "\n".join(missing)


def test_every_write_declares_its_request_body(spec):
    missing = []
    for name, method, op in _operations(spec):
        if method not in WRITES or name in NO_BODY:
            continue
        content = op.get("requestBody", {}).get("content") or {}
        if not content or not all(_meaningful(spec, c.get("schema", {})) for c in content.values()):
            missing.append(name)
    assert not missing, "writes without a declared request body:\n" + "\n".join(missing)
    writes = [n for n, m, _ in _operations(spec) if m in WRITES]
    assert len(writes) >= 20 and NO_BODY <= set(writes)


def test_errors_are_documented_as_problem_json_outside_open311(spec):
    for name, _, op in _operations(spec):
        if "/open311/" in name:
            assert "application/json" in op["responses"]["400"]["content"], name
            continue
        for code in ("400", "404", "422"):
            schema = op["responses"][code]["content"]["application/problem+json"]["schema"]
            assert _resolve(spec, schema)["properties"].keys() >= {"title", "status", "detail"}, name


def test_every_reference_resolves(spec):
    text = json.dumps(spec)
    names = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert names, "no component references at all"
    assert names <= set(spec["components"]["schemas"]), names - set(spec["components"]["schemas"])


def test_query_parameters_document_their_ranges_and_the_crs_default(spec):
    params = {p["name"]: p for p in spec["paths"]["/collections/{layer}/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1 and "capped" in params["limit"]["description"]
    assert params["offset"]["schema"]["minimum"] == 0
    assert params["generation"]["schema"]["maximum"] == 2**63 - 1 or any(
        s.get("maximum") == 2**63 - 1 for s in params["generation"]["schema"].get("anyOf", [])
    )
    assert "CRS84" in params["crs"]["description"] and "bbox-crs" in params
