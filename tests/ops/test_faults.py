"""Faults: a server killed mid-write loses nothing acknowledged; a dropped database recovers.

Both run a real ``gridgis serve`` process against a real PostGIS database on localhost.
"""

from __future__ import annotations

import random
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.ops.conftest import make_token
from tests.ops.server import ServerProcess

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


def _city_points(url: str, n: int, seed: int = 7) -> list[tuple[float, float]]:
    """Points inside the sample city's grids (representative points jittered inside each grid)."""
    from gridgis.storage import Repository

    repo = Repository(url)
    grids = repo.read_layer("grids")
    repo.dispose()
    rng = random.Random(seed)
    pts = []
    for geom in grids.geometry.sample(n, replace=True, random_state=seed):
        minx, miny, maxx, maxy = geom.bounds
        while True:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            from shapely import Point

            if geom.contains(Point(x, y)):
                pts.append((x, y))
                break
    return pts


def test_sigkill_during_ticket_writes_loses_no_acknowledged_ticket(city_store, tmp_path):
    token = make_token(city_store, "reporter")
    headers = {"Authorization": f"Bearer {token}"}
    server = ServerProcess(city_store, log_path=tmp_path / "server.log").start()
    acked: list[int] = []
    stop = threading.Event()
    points = _city_points(city_store, 400)
    # the first ticket builds the routing index: wait for it before the stream starts
    warm = httpx.post(
        f"{server.url}/tickets",
        headers=headers,
        timeout=180,
        json={"lon": points[0][0], "lat": points[0][1], "matter_code": "M20", "description": "预热"},
    )
    assert warm.status_code == 201, warm.text
    acked.append(warm.json()["id"])

    def writer(offset: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            for i, (lon, lat) in enumerate(points[offset::2]):
                if stop.is_set():
                    return
                try:
                    r = client.post(
                        "/tickets",
                        headers=headers,
                        json={
                            "lon": lon,
                            "lat": lat,
                            "matter_code": "M20",
                            "description": f"压力测试 {offset}-{i}",
                            "channel": "12345热线",
                        },
                    )
                except httpx.HTTPError:
                    if stop.is_set():
                        return  # the server is gone: nothing acknowledged on this request
                    continue
                if r.status_code == 201:
                    acked.append(r.json()["id"])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 30 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()  # SIGKILL while both writers are mid-stream
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acked) >= 30, f"only {len(acked)} tickets were acknowledged before the kill; see server.log"

    restarted = ServerProcess(city_store, log_path=tmp_path / "server2.log").start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=10.0) as client:
            missing = [tid for tid in acked if client.get(f"/tickets/{tid}", headers=headers).status_code != 200]
        assert missing == []
    finally:
        restarted.stop()
    # nothing half-written: every stored ticket has its received event
    engine = sa.create_engine(city_store)
    with engine.connect() as conn:
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id)"
            )
        ).scalar_one()
        stored = conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one()
    engine.dispose()
    assert orphans == 0
    assert stored >= len(acked)


def test_database_dropped_and_restored_fails_cleanly_then_recovers_without_restart(city_store, tmp_path):
    server = ServerProcess(city_store, log_path=tmp_path / "server.log").start()
    name = sa.make_url(city_store).database
    admin = sa.create_engine(sa.make_url(city_store).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            assert client.get("/ready").status_code == 200
            assert client.get("/collections/grids/items", params={"limit": 1}).status_code == 200
            with admin.connect() as conn:  # cut the database off and drop every connection to it
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
            down_ready = client.get("/ready")
            down_items = client.get("/collections/grids/items", params={"limit": 1})
            assert down_ready.status_code == 503
            assert down_items.status_code == 503
            assert down_items.headers["content-type"].startswith("application/problem+json")
            assert "password" not in down_items.text.lower() and "traceback" not in down_items.text.lower()
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            recovered = [client.get("/ready").status_code for _ in range(3)]
            assert recovered[-1] == 200
            assert client.get("/collections/grids/items", params={"limit": 1}).status_code == 200
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        server.kill()
