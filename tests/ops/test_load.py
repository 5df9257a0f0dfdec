"""Load: concurrent routing lookups and ticket creation against a running server, zero errors.

Bounded in time (a few seconds) and sent to localhost only; the numbers are reported by
``python -m bench`` (bench/http_load.py), never asserted here.
"""

from __future__ import annotations

import pytest

from bench.http_load import drive, points_in_grids
from tests.ops.conftest import make_token
from tests.ops.server import ServerProcess

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


def test_concurrent_routing_and_ticket_creation_on_two_workers_have_zero_errors(city_store, tmp_path):
    from gridgis.storage import Repository

    token = make_token(city_store, "reporter")
    repo = Repository(city_store)
    points = points_in_grids(repo.read_layer("grids"), 500)
    repo.dispose()
    server = ServerProcess(city_store, workers=2, log_path=tmp_path / "server.log").start()
    try:
        drive(server.url, points, seconds=3.0, threads=2, token=token)  # let both workers build their index
        result = drive(server.url, points, seconds=5.0, threads=8, ticket_share=0.2, token=token)
    finally:
        server.stop()
    assert result.errors == []
    assert result.count("route") > 10
    assert result.count("ticket") > 0
    assert set(result.statuses["route"]) == {200}
    assert set(result.statuses["ticket"]) == {201}
    # every acknowledged ticket is stored
    import sqlalchemy as sa

    engine = sa.create_engine(city_store)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one()
    engine.dispose()
    assert stored >= result.count("ticket")
