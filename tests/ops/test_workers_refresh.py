"""Several worker processes refresh their routing index when boundaries change, idle or not.

A real ``gridgis serve --workers 2``: on PostGIS each worker LISTENs (a dedicated connection and
thread) and swaps its index when a generation is committed by another process; on SQLite each
worker polls on a timer. No request is sent between the commit and the swap, so the swap cannot
come from traffic. Then no answer mixes two generations: a grid's name always belongs to the
generation the answer names. Latencies (commit → swap, per worker) are printed; speed figures
belong in ``bench/``, not in assertions.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.server import ServerProcess

pytestmark = [pytest.mark.slow]

WORKERS = 2
ROUNDS = 3


def swaps(log_path: Path) -> list[dict]:
    """The ``routing_index_swapped`` events of a server's JSON log (with ``pid`` and ``time``)."""
    out = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"routing_index_swapped"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        out.append(event)
    return out


def _wait_for_swaps(
    log_path: Path, generation: int, workers: int, timeout: float = 120.0
) -> dict[int, tuple[float, float]]:
    """{pid: (swap time, build seconds)} once ``workers`` processes serve ``generation``."""
    from datetime import datetime

    deadline = time.monotonic() + timeout
    seen: dict[int, tuple[float, float]] = {}
    while time.monotonic() < deadline:
        for e in swaps(log_path):
            if e.get("generation") == generation and e["pid"] not in seen:
                seen[e["pid"]] = (datetime.fromisoformat(e["time"]).timestamp(), float(e.get("seconds", 0.0)))
        if len(seen) >= workers:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"only {len(seen)} of {workers} workers swapped in generation {generation}; see {log_path}")


def refresh_latencies(
    url: str, tmp_path: Path, rounds: int = ROUNDS, env: dict[str, str] | None = None
) -> list[tuple[float, float]]:
    """Run the scenario on the store at ``url``; return (commit → swap, commit → rebuild start) per worker swap (s)."""
    from gridgis.storage import FeatureChange, Repository

    repo = Repository(url)
    grids = repo.read_layer("grids")
    target = grids.iloc[0]
    point = target.geometry.representative_point()
    log_path = tmp_path / "server.log"
    server = ServerProcess(url, workers=WORKERS, log_path=log_path, log_level="info", env=env).start(timeout=300)
    latencies: list[tuple[float, float]] = []
    names = {int(repo.current_generation().id): str(target["name"])}
    mixed: list[tuple] = []
    stop = threading.Event()
    answers = 0

    def watch() -> None:  # a steady reader between rounds: every answer is one generation throughout
        nonlocal answers
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            while not stop.is_set():
                r = client.get("/route", params={"lon": point.x, "lat": point.y})
                assert r.status_code == 200, r.text
                a = r.json()
                answers += 1
                expected = names.get(a["generation"])
                if expected is None or a["grid"]["name"] != expected:
                    mixed.append((a["generation"], a["grid"]["name"], expected))
                stop.wait(0.01)

    try:
        _wait_for_swaps(log_path, int(repo.current_generation().id), WORKERS, timeout=180)
        version = int(target["version"])
        reader = None
        for k in range(rounds):
            if reader is not None:  # idle during the commit: no request may trigger the swap
                stop.set()
                reader.join()
                stop.clear()
            name = f"改名后的网格{k + 1}"
            gen = repo.apply_changes(
                [FeatureChange("grids", "replace", target["code"], {"name": name}, expected_version=version)],
                author="ops-test",
                message=f"rename a grid ({k + 1})",
            )
            committed = time.time()
            names[int(gen.id)] = name
            version += 1
            for swapped, build in _wait_for_swaps(log_path, int(gen.id), WORKERS).values():
                latencies.append((max(0.0, swapped - committed), max(0.0, swapped - build - committed)))
            reader = threading.Thread(target=watch)
            reader.start()
            time.sleep(0.5)
            with httpx.Client(base_url=server.url, timeout=60.0) as client:
                burst = [
                    client.get("/route", params={"lon": point.x, "lat": point.y}).json() for _ in range(4 * WORKERS)
                ]
            assert {(a["generation"], a["grid"]["name"]) for a in burst} == {(gen.id, name)}
        stop.set()
        if reader is not None:
            reader.join()
    finally:
        stop.set()
        server.stop()
        repo.dispose()
    assert answers > 0
    assert mixed == [], mixed[:5]
    return latencies


def _figures(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.3f} s, p99 {p99:.3f} s, max {ordered[-1]:.3f} s"


def _report(backend: str, latencies: list[tuple[float, float]]) -> None:
    print(
        f"\n{backend}, {len(latencies)} worker swaps: commit → new index served: "
        f"{_figures([a for a, _ in latencies])}; commit → rebuild started: {_figures([b for _, b in latencies])}"
    )


@pytest.mark.postgis
def test_every_postgis_worker_swaps_a_committed_generation_while_idle(city_store, tmp_path):
    latencies = refresh_latencies(city_store, tmp_path)
    assert len(latencies) == ROUNDS * WORKERS
    _report("PostGIS LISTEN/NOTIFY", latencies)


def test_every_sqlite_worker_swaps_a_committed_generation_on_its_timer(sample_dir, tmp_path):
    from gridgis.io import read_city
    from gridgis.storage import Repository

    url = f"sqlite:///{tmp_path / 'refresh.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city({k: v for k, v in read_city(sample_dir).items() if k != "tickets"}, author="tests", message="city")
    repo.dispose()
    latencies = refresh_latencies(url, tmp_path)
    assert len(latencies) == ROUNDS * WORKERS
    _report("SQLite timer", latencies)


@pytest.mark.postgis
def test_a_read_replica_polls_on_a_timer(city_store, tmp_path):
    """``GRIDGIS_GENERATION_REFRESH=poll`` (a replica, where NOTIFY never arrives) still swaps while idle."""
    latencies = refresh_latencies(city_store, tmp_path, rounds=1, env={"GRIDGIS_GENERATION_REFRESH": "poll"})
    assert len(latencies) == WORKERS
    _report("PostGIS poll (replica mode)", latencies)
