"""schemathesis against the OpenAPI schema of every endpoint, over real HTTP.

Every operation gets generated requests (valid and invalid); the server must never answer
5xx, and its answers must match the schema it publishes.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.ops.conftest import make_token

EXAMPLES_PER_OPERATION = 10


def test_no_endpoint_answers_5xx_and_answers_match_the_schema(sample_api):
    url, repo = sample_api
    headers = {"Authorization": f"Bearer {make_token(repo.url, 'admin')}"}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case) -> None:
            case.call_and_validate(
                base_url=url, headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
