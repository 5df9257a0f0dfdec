"""Batch jobs on Dask (a LocalCluster of 2 workers): each county's task calls the same library function
a single process calls, and the merged answers equal the single-process ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridgis.scale.province import county_codes, replicate

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def province_with_tickets(tmp_path_factory):
    from gridgis.sample.lattice import synthetic_city
    from gridgis.sample.tickets import tickets_frame
    from gridgis.storage import Repository
    from gridgis.tickets.importer import reports_from_frame
    from gridgis.tickets.store import TicketStore

    frames = replicate(synthetic_city(6, 6), county_codes(2))
    url = f"sqlite:///{tmp_path_factory.mktemp('batch') / 'province.db'}"
    repo = Repository(url)
    repo.create_schema()
    repo.write_city(frames, author="tests", message="two counties")
    points = tickets_frame(frames, 240, np.random.default_rng(1))
    points = pd.DataFrame(points.assign(lon=points.geometry.x, lat=points.geometry.y).drop(columns="geometry"))
    store = TicketStore(repo, create_tables=True)
    created, rejected = store.create_many(reports_from_frame(points, crs="wgs84"))
    assert len(created) == 240 and not rejected
    steps = [
        {"id": t.id, "action": action, "actor": "tests", "at": t.received_at + pd.Timedelta(hours=k + 1)}
        for t in created[::3]
        for k, action in enumerate(("triage", "dispatch", "accept", "resolve"))
    ]
    steps += [{**s, "action": "rate", "rating": 4, "at": s["at"] + pd.Timedelta(hours=1)} for s in steps[3::8]]
    store.transition_many(steps)
    yield url, frames, repo, store
    repo.dispose()


@pytest.fixture(scope="module")
def client():
    from gridgis.scale.batch import dask_client

    with dask_client(local=2) as c:
        yield c


def test_batch_routing_equals_one_whole_index(province_with_tickets, client):
    from gridgis.routing import RoutingIndex
    from gridgis.scale.batch import route_batch

    url, frames, repo, _ = province_with_tickets
    rng = np.random.default_rng(4)
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    lon = rng.uniform(minx - 0.003, maxx + 0.003, 6000)
    lat = rng.uniform(miny - 0.003, maxy + 0.003, 6000)
    lon[[5, 17]] = np.nan, 400.0  # refused rows travel with some county and keep their reason
    whole = RoutingIndex.build(frames, generation=repo.current_generation().id).route_many(lon, lat)
    got = route_batch(client, url, lon, lat, chunk=1500)  # several tasks per county
    pd.testing.assert_frame_equal(got, whole)
    assert got["grid_code"].str[:6].nunique() == 2


def test_batch_statistics_and_indices_equal_the_single_process_ones(province_with_tickets, client):
    from gridgis.people.assessment import TZ, monthly_indices, ticket_frame
    from gridgis.scale.batch import stats_batch

    url, frames, repo, store = province_with_tickets
    tickets = ticket_frame(repo.engine)
    months = sorted(pd.to_datetime(tickets["received_at"], utc=True).dt.tz_convert(TZ).dt.strftime("%Y-%m").unique())
    figures, indices = stats_batch(client, url, months)
    assert figures == store.statistics(level="grid")
    households = dict(zip(frames["grids"]["code"], frames["grids"]["households"]))
    single = monthly_indices(tickets, households, months=months)
    single = single.sort_values(["grid_code", "month"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(indices, single, check_dtype=False)


def test_batch_alignment_is_the_per_county_proposal(province_with_tickets, client):
    from gridgis.alignment.propose import propose_alignment
    from gridgis.routing.county import filter_counties
    from gridgis.scale.batch import align_batch

    url, frames, _, _ = province_with_tickets
    proposals = align_batch(client, url)
    assert sorted(proposals) == county_codes(2)
    for county, got in proposals.items():
        held = frozenset([county])
        layers = {k: filter_counties(frames[k], held) for k in ("compounds", "grids", "buildings", "communities")}
        single = propose_alignment(
            layers["compounds"], layers["grids"], layers["buildings"], layers["communities"], workers=1
        )
        assert got.grids["code"].tolist() == single.grids["code"].tolist()
        assert got.grids.geometry.geom_equals_exact(single.grids.geometry, tolerance=1e-9).all()
        pd.testing.assert_frame_equal(got.impact, single.impact)


def test_batch_route_command_writes_what_gridgis_route_writes(province_with_tickets, client, tmp_path):
    from typer.testing import CliRunner

    from gridgis.cli import app

    url, frames, _, _ = province_with_tickets
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    rng = np.random.default_rng(9)
    points = pd.DataFrame({"id": range(300), "lon": rng.uniform(minx, maxx, 300), "lat": rng.uniform(miny, maxy, 300)})
    points.to_csv(tmp_path / "in.csv", index=False)
    runner = CliRunner()
    common = ["--crs", "wgs84", "--database-url", url]
    one = runner.invoke(app, ["route", str(tmp_path / "in.csv"), "--out", str(tmp_path / "one.csv"), *common])
    assert one.exit_code == 0, one.output
    address = client.scheduler.address
    many = runner.invoke(
        app,
        ["batch", "route", str(tmp_path / "in.csv"), "-o", str(tmp_path / "many.csv"), "--scheduler", address, *common],
    )
    assert many.exit_code == 0, many.output
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "many.csv").read_text()
    bad = runner.invoke(app, ["batch", "route", str(tmp_path / "in.csv"), "-o", str(tmp_path / "x.csv"), *common])
    assert bad.exit_code != 0 and "--scheduler" in str(bad.exception)


def test_route_files_keeps_the_points_on_the_workers_and_writes_what_gridgis_route_writes(
    province_with_tickets, client, tmp_path
):
    from typer.testing import CliRunner

    from gridgis.cli import app
    from gridgis.scale.batch import route_files

    url, frames, _, _ = province_with_tickets
    minx, miny, maxx, maxy = frames["grids"].total_bounds
    rng = np.random.default_rng(12)
    paths = []
    for k, n in enumerate((400, 0, 250)):  # a month without tickets too
        part = pd.DataFrame(
            {
                "ticket": [f"T{k}-{i}" for i in range(n)],
                "lon": rng.uniform(minx - 0.002, maxx, n).astype(object),
                "lat": rng.uniform(miny, maxy, n),
            }
        )
        if n:
            part.loc[3, "lon"] = "not a number"
        paths.append(tmp_path / f"2026-0{k + 1}.csv")
        part.to_csv(paths[-1], index=False)
    written = route_files(client, url, [str(p) for p in paths], str(tmp_path / "out"), str(tmp_path / "work"), "wgs84")
    runner = CliRunner()
    for path, got in zip(paths, written):
        one = runner.invoke(
            app, ["route", str(path), "-o", str(tmp_path / "one.csv"), "--crs", "wgs84", "--database-url", url]
        )
        assert one.exit_code == 0, one.output
        assert (tmp_path / "one.csv").read_text() == Path(got).read_text(), path.name
