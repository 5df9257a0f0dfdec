"""Ticket intake over real HTTP on PostGIS (partitioned tickets): a hotline that re-sends the same
report from several connections at once gets one ticket, through ``POST /tickets`` and Open311."""

from __future__ import annotations

import threading

import httpx
import pytest
import sqlalchemy as sa

from gridgis.api import create_app
from gridgis.sample.lattice import synthetic_city
from gridgis.settings import get_settings
from gridgis.storage import Repository
from tests.support.tickets import admin_headers, live_server

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def city():
    return synthetic_city(2, 2, micro=2, per_community=2)


@pytest.fixture(scope="module")
def server(postgis_server, postgis_template, city):
    from tests.support.storage import temporary_postgis_database

    with temporary_postgis_database(postgis_server, template=postgis_template) as url:
        repo = Repository(url)
        repo.write_city(city, author="test", message="synthetic city")
        app = create_app(get_settings(database_url=url), repo)
        with live_server(app) as base:
            yield base, admin_headers(repo), repo
        repo.dispose()


def _at_once(send, n):
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        out[i] = send()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _stored(repo, external_id) -> int:
    with repo.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM tickets WHERE external_id = :e"), {"e": external_id}
        ).scalar_one()


def test_the_same_report_posted_from_eight_connections_at_once_is_one_ticket(server, city):
    base, headers, repo = server
    p = city["micro_grids"].geometry.iloc[0].representative_point()
    body = {"lon": p.x, "lat": p.y, "matter_code": "M27", "channel": "12345", "external_id": "PG-HTTP-1"}

    def send():
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            return http.post("/tickets", json=body)

    answers = _at_once(send, 8)
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert [r.headers.get("idempotent-replayed") for r in answers if r.status_code == 200] == ["true"] * 7
    assert _stored(repo, "PG-HTTP-1") == 1
    with repo.engine.connect() as conn:  # one creation audited, under the token's holder
        rows = (
            conn.execute(
                sa.text("SELECT principal FROM audit_log WHERE action = 'ticket.create' AND message LIKE '%M27%'")
            )
            .scalars()
            .all()
        )
    assert rows == ["tests-admin"]


def test_open311_posts_at_once_with_other_content_store_one_and_refuse_the_rest(server, city):
    base, _headers, repo = server
    p = city["micro_grids"].geometry.iloc[1].representative_point()
    counter = iter(range(100))
    lock = threading.Lock()

    def send():
        with lock:
            n = next(counter)
        form = {
            "service_code": "M11",
            "lat": f"{p.y}",
            "long": f"{p.x}",
            "description": f"占道经营 {n}",
            "attribute[external_id]": "PG-O311-1",
        }
        with httpx.Client(base_url=base, timeout=60) as http:
            return http.post("/open311/v2/requests.json", data=form)

    answers = _at_once(send, 6)
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5, [r.text for r in answers]
    [made] = [r.json()[0]["service_request_id"] for r in answers if r.status_code == 200]
    refused = [r.json()[0] for r in answers if r.status_code == 409]
    assert all(e["code"] == 409 and f"ticket {made}" in e["description"] for e in refused)
    assert _stored(repo, "PG-O311-1") == 1
