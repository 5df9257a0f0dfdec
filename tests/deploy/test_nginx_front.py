"""The generated nginx front over real ``gridgis serve --counties`` pools: /route reaches the pool of the
point's county, and a pool killed (SIGKILL) while routing goes on costs no request; answers equal a
whole-store server's."""

from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gridgis.cli import app as cli
from tests.deploy.front import NGINX, NginxFront, county_points, province_store, start_pools

# in CI nginx is installed by .ci/run: a missing nginx fails there instead of skipping
pytestmark = pytest.mark.skipif(
    shutil.which(NGINX) is None and not os.environ.get("CI"), reason="needs Debian nginx (apt-get install nginx)"
)


def test_deploy_nginx_writes_a_configuration_nginx_accepts(tmp_path):
    import subprocess

    out = tmp_path / "front"
    result = CliRunner().invoke(
        cli,
        ["deploy", "nginx", "--pool", "310115,310104=127.0.0.1:8101,127.0.0.1:8102", "--pool", "310215=127.0.0.1:8103"]
        + ["--backup", "310215=127.0.0.1:8101", "--node", "127.0.0.1:8100", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    text = (out / "nginx.conf").read_text()
    assert (
        "upstream gridgis_county_310104" in text
        and "server 127.0.0.1:8101 max_fails=1 fail_timeout=10s backup;" in text
    )
    assert "proxy_next_upstream error timeout http_502 http_503" in text
    subprocess.run([NGINX, "-t", "-q", "-p", str(out), "-c", "nginx.conf"], check=True)
    assert (out / "systemd" / "pool-8101.env").read_text().count("GRIDGIS_COUNTIES=310104,310115") == 1
    assert (out / "systemd" / "gridgis-pool@.service").exists()
    bad = CliRunner().invoke(cli, ["deploy", "nginx", "--pool", "3101=127.0.0.1:1", "--out", str(out)])
    assert bad.exit_code != 0 and "county code '3101'" in str(bad.exception or bad.output)


@pytest.mark.slow
def test_a_pool_killed_behind_nginx_costs_no_request(tmp_path):
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings

    url, frames = province_store(tmp_path / "province.db", counties=3, grids=6)
    counties = ["310115", "310215", "310315"]
    # every county on two pools: pool 0 holds the first two, pool 1 the last two, pool 2 the first and last
    pools = start_pools(url, [counties[:2], counties[1:], [counties[0], counties[2]]], tmp_path)
    try:
        a, b, c = (p.url.removeprefix("http://") for p in pools)
        spec = [f"{counties[0]}={a},{c}", f"{counties[1]}={a},{b}", f"{counties[2]}={b},{c}"]
        points = county_points(frames, per_county=30)
        with TestClient(create_app(get_settings(database_url=url, prewarm_routing=False))) as whole:
            expected = [whole.get("/route", params={"lon": x, "lat": y}) for x, y, _ in points]
        expected_answers = [(r.status_code, r.json()) for r in expected]
        assert {s for s, _ in expected_answers} == {200, 422}  # inside, snapped and outside points alike

        with NginxFront(tmp_path / "front", spec) as front:
            killed = threading.Event()
            done = 0
            lock = threading.Lock()

            def client(rounds: int) -> list[tuple[int, int, dict]]:
                nonlocal done
                got = []
                with httpx.Client(base_url=front.url, timeout=30) as http:
                    for _ in range(rounds):
                        for i, (x, y, _) in enumerate(points):
                            r = http.get("/route", params={"lon": x, "lat": y})
                            got.append((i, r.status_code, r.json()))
                            with lock:
                                done += 1
                                if done == len(points) and not killed.is_set():
                                    pools[0].kill()  # SIGKILL mid-stream: its counties' other pools answer
                                    killed.set()
                return got

            with ThreadPoolExecutor(4) as ex:
                answers = [a for part in ex.map(client, [3] * 4) for a in part]
            assert killed.is_set() and pools[0].proc.poll() is not None
            failed = [(i, s) for i, s, body in answers if (s, body) != expected_answers[i]]
            assert len(answers) == 12 * len(points)
            assert failed == []
            errors = (tmp_path / "front" / "logs" / "error.log").read_text()
            met_the_dead_pool = ("Connection refused", "prematurely closed", "reset by peer")
            assert any(sign in errors for sign in met_the_dead_pool), errors[-2000:]
            # the front's look-up and its backups: a county named by the client skips the look-up
            x, y, county = points[0]
            r = httpx.get(f"{front.url}/route", params={"lon": x, "lat": y, "county": county})
            assert (r.status_code, r.json()) == expected_answers[0]
            r = httpx.get(f"{front.url}/route", params={"lon": x, "lat": y, "code": f"{county}001001001"})
            assert (r.status_code, r.json()) == expected_answers[0]
            # everything else goes to any live node
            r = httpx.get(f"{front.url}/collections/grids/items", params={"limit": 1})
            assert r.status_code == 200 and r.json()["features"]
    finally:
        for p in pools:
            p.kill()


def test_deploy_nginx_refuses_a_front_without_a_whole_store_node_for_tickets(tmp_path):
    import subprocess

    pools = ["--pool", "310115=127.0.0.1:8101", "--pool", "310215=127.0.0.1:8102"]
    for nodes in ([], ["--node", "127.0.0.1:8101", "--node", "127.0.0.1:8102"]):
        out = tmp_path / f"front{len(nodes)}"
        bad = CliRunner().invoke(cli, ["deploy", "nginx", *pools, *nodes, "--out", str(out)])
        message = str(bad.exception or bad.output)
        assert bad.exit_code != 0 and "ticket intake needs a whole-store node" in message, message
        assert not (out / "nginx.conf").exists()  # nothing written
    out = tmp_path / "front"
    good = CliRunner().invoke(cli, ["deploy", "nginx", *pools, "--node", "127.0.0.1:8101", "--node", "127.0.0.1:8100"])
    assert good.exit_code != 0  # --out is required
    good = CliRunner().invoke(
        cli, ["deploy", "nginx", *pools, "--node", "127.0.0.1:8101", "--node", "127.0.0.1:8100", "--out", str(out)]
    )
    assert good.exit_code == 0, good.output
    text = (out / "nginx.conf").read_text()
    intake = text.split("upstream gridgis_intake {")[1].split("}")[0]
    assert "127.0.0.1:8100" in intake and "8101" not in intake  # only the whole-store node takes tickets
    assert "POST:310215 gridgis_county_310215;" in text and "error_page 421 = @gridgis_intake;" in text
    subprocess.run([NGINX, "-t", "-q", "-p", str(out), "-c", "nginx.conf"], check=True)


@pytest.mark.slow
def test_a_ticket_posted_through_the_front_is_stored_with_the_grid_of_its_point(tmp_path):
    """Tickets of every county, posted through the front without a county, with the right one and with a
    wrong one (the pool's 421 is sent on to the whole store), as JSON and as Open311 forms: each is
    stored once, with the grid of its point. County 310315 has no pool: only the whole store takes it."""
    import sqlalchemy as sa

    from gridgis.auth.store import TokenStore
    from gridgis.auth.store import ensure_tables as ensure_auth_tables
    from gridgis.storage import Repository
    from gridgis.tickets.tables import ensure_tables, tickets
    from tests.ops.server import ServerProcess

    url, frames = province_store(tmp_path / "province.db", counties=3, grids=4)
    counties = ["310115", "310215", "310315"]
    repo = Repository(url)
    ensure_tables(repo.engine)
    ensure_auth_tables(repo.engine)
    token, _ = TokenStore(repo.engine).create("热线", "reporter", ["*"])
    micro = frames["micro_grids"].set_index("code")
    points = {}  # county -> (lon, lat, grid of the point)
    for c in counties:
        code = sorted(m for m in micro.index if m.startswith(c))[5]
        p = micro.loc[code].geometry.representative_point()
        points[c] = (p.x, p.y, micro.loc[code, "grid_code"])

    pools = start_pools(url, [[counties[0]], [counties[1]]], tmp_path)
    whole = ServerProcess(url, log_path=tmp_path / "whole.log")
    try:
        whole.start(timeout=120)
        a, b, w = (s.url.removeprefix("http://") for s in (*pools, whole))
        # the foreign point of a pool: 421 naming its county, and nothing stored
        x, y, _ = points[counties[1]]
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{pools[0].url}/tickets", json={"lon": x, "lat": y, "matter_code": "M11"}, headers=auth)
        assert r.status_code == 421 and counties[1] in r.text, r.text
        spec = [f"{counties[0]}={a}", f"{counties[1]}={b}"]
        posted: list[tuple[int, str]] = []
        with NginxFront(tmp_path / "front", spec, nodes=[a, b, w]) as front, httpx.Client(base_url=front.url) as http:
            for i, c in enumerate(counties):
                x, y, grid = points[c]
                wrong = counties[(i + 1) % 2]  # a county with a pool that is not the point's
                for params in ({}, {"county": c}, {"code": f"{c}001001"}, {"county": wrong}):
                    body = {"lon": x, "lat": y, "matter_code": "M11", "description": f"{c} {params}"}
                    r = http.post("/tickets", params=params, json=body, headers=auth, timeout=60)
                    assert r.status_code == 201, (c, params, r.status_code, r.text)
                    assert r.json()["grid_code"] == grid, (c, params)
                    posted.append((r.json()["id"], grid))
                for params in ({}, {"county": wrong}):
                    form = {"service_code": "M11", "lat": str(y), "long": str(x), "description": f"311 {c}"}
                    r = http.post("/open311/v2/requests.json", params=params, data=form, timeout=60)
                    assert r.status_code == 200, (c, params, r.status_code, r.text)
                    posted.append((int(r.json()[0]["service_request_id"]), grid))
        with repo.engine.connect() as conn:
            stored = dict(conn.execute(sa.select(tickets.c.id, tickets.c.grid_code)).all())
        assert stored == dict(posted)  # each once, with its point's grid: none lost, none doubled
        assert len(stored) == 3 * 6
    finally:
        for p in (*pools, whole):
            p.kill()
        repo.dispose()
