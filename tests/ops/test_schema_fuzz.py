"""schemathesis against the OpenAPI schema of every endpoint, over real HTTP, as each role.

Every operation gets generated requests (valid and invalid) with an admin, a planner, a worker
and a reporter token (real tokens from gridgis's token store, scoped like real holders); the
server must never answer 5xx, and its answers must match the schema it publishes. Where the
schema links operations (OpenAPI links, or links schemathesis infers from Location headers),
the stateful phase chains them.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.ops.conftest import make_token

#: role -> (scope codes, examples per operation): bounded so the whole run takes about a minute
ROLES: dict[str, tuple[tuple[str, ...], int]] = {
    "admin": (("*",), 4),
    "planner": (("310115004000",), 2),
    "worker": (("310115004000",), 2),
    "reporter": ((), 2),
}


def _exercise(operation, url: str, headers: dict[str, str], examples: int, statuses: Counter[int]):
    """A hypothesis test of ``operation`` as the holder of ``headers``; counts answers by status."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case) -> None:
        response = case.call(base_url=url, headers=headers)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return exercise


def test_no_endpoint_answers_5xx_and_answers_match_the_schema(sample_api):
    url, repo = sample_api
    tokens = {role: make_token(repo.url, role, scopes) for role, (scopes, _) in ROLES.items()}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for role, (_, examples) in ROLES.items():
            exercise = _exercise(operation, url, {"Authorization": f"Bearer {tokens[role]}"}, examples, statuses)
            try:
                exercise()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collect every failure, report them together
                failures.append(f"{role} {operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    print(
        f"\nschemathesis: {operations} operations, {sum(statuses.values())} cases, {server_errors} 5xx; {dict(statuses)}"
    )
    assert operations >= 20
    assert server_errors == 0 and not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def sample_store_file(tmp_path_factory):
    """A SQLite file holding the sample city and an admin token: each stateful scenario serves a copy of it."""
    from gridgis.io import read_city
    from gridgis.storage import Repository

    sample = Path(__file__).resolve().parents[2] / "data" / "geojson"
    path = tmp_path_factory.mktemp("stateful") / "template.db"
    repo = Repository(f"sqlite:///{path}")
    repo.create_schema()
    repo.write_city({k: v for k, v in read_city(sample).items() if k != "tickets"}, author="tests", message="sample")
    repo.dispose()
    return path, make_token(f"sqlite:///{path}", "admin")


def test_the_stateful_phase_chains_linked_operations_without_5xx(sample_api, sample_store_file, tmp_path):
    """Hypothesis replays a scenario's choices to explore from them and requires the same choices to draw the
    same way; what a step may draw (the links it can follow, the values it gets) depends on earlier answers.
    So every scenario runs against its own copy of one store, served fresh: a scenario that created an
    organisation or a wish must not change what a later scenario's same steps are answered
    (FlakyStrategyDefinition when the same prefix met a store that earlier scenarios had written to)."""
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from tests.live import LiveServer

    url, _ = sample_api  # the published schema is the same for every store
    template, token = sample_store_file
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    machine = schema.as_state_machine()
    statuses: Counter[int] = Counter()
    scenarios = itertools.count()

    class Run(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            db = tmp_path / f"scenario-{next(scenarios)}.db"
            shutil.copyfile(template, db)
            self.repo = Repository(f"sqlite:///{db}")
            self.server = LiveServer(create_app(get_settings(database_url=self.repo.url), self.repo)).__enter__()

        def teardown(self) -> None:
            self.server.__exit__(None, None, None)
            self.repo.dispose()

        def call(self, case, **kwargs):
            response = case.call(base_url=self.server.url, headers=headers, **kwargs)
            statuses[response.status_code] += 1
            return response

        def validate_response(self, response, case, **kwargs) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    config = settings(
        max_examples=15,
        stateful_step_count=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    try:
        Run.run(settings=config)
    finally:
        found = getattr(machine, "_transitions", None)
        links = sum(len(t.outgoing) for t in found.operations.values()) if found is not None else 0
        print(
            f"\nstateful: {next(scenarios)} scenarios; links {links}; {sum(statuses.values())} calls; {dict(statuses)}"
        )
    assert not any(s >= 500 for s in statuses)
