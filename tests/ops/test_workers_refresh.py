"""Several worker processes refresh their routing index when boundaries change (LISTEN/NOTIFY).

A real ``gridgis serve --workers 2`` on PostGIS: a new boundary generation committed by another
process reaches every worker without a restart, and no answer mixes two generations.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.ops.server import ServerProcess

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


def test_a_committed_boundary_change_reaches_every_worker_without_restart(city_store, tmp_path):
    from gridgis.storage import FeatureChange, Repository

    repo = Repository(city_store)
    grids = repo.read_layer("grids")
    target = grids.iloc[0]
    point = target.geometry.representative_point()
    server = ServerProcess(city_store, workers=2, log_path=tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=120.0) as client:
            first = [client.get("/route", params={"lon": point.x, "lat": point.y}).json() for _ in range(12)]
            assert {r["grid"]["code"] for r in first} == {target["code"]}
            old_generation = {r["generation"] for r in first}
            assert len(old_generation) == 1
            # another process (a planner's tool) renames the grid: a new generation
            gen = repo.apply_changes(
                [
                    FeatureChange(
                        "grids",
                        "replace",
                        target["code"],
                        {"name": "改名后的网格"},
                        expected_version=int(target["version"]),
                    )
                ],
                author="ops-test",
                message="rename a grid",
            )
            deadline = time.monotonic() + 30
            answers: list[dict] = []
            while time.monotonic() < deadline:
                answers = [client.get("/route", params={"lon": point.x, "lat": point.y}).json() for _ in range(12)]
                if all(a["generation"] == gen.id for a in answers):
                    break
                time.sleep(0.5)
            assert all(a["generation"] == gen.id for a in answers), [a["generation"] for a in answers]
            # an answer is one generation throughout: its grid name is the new one with the new generation
            assert all(a["grid"]["name"] == "改名后的网格" for a in answers)
    finally:
        server.stop()
        repo.dispose()
