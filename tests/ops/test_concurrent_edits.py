"""Many planners editing the same and neighbouring grids at once, over real HTTP, on PostGIS.

Seven planners (each with a planner token of their own) hammer the six grids of one community
of the sample city with move-boundary, transfer-compound and single-feature PUTs until enough
writes were stored (bounded in time). Afterwards every generation is read back from the store and
checked:

- every answer was 200, or a 409/412/422 ``application/problem+json`` that names the feature;
- every committed generation belongs to exactly one acknowledged write, and every acknowledged
  write is a committed generation (nothing lost, nothing phantom);
- after every generation the community's grids pass the one coverage rule
  (:func:`gridgis.layers.coverage.check_coverage`: ``shapely.coverage_is_valid`` as stored, no gap,
  union within 1 m² of the community), and every grid is exactly tiled by single-part micro-grids
  whose households add up to the grid's;
- each generation changes exactly what its write said, every changed feature's version grows by
  one, and a PUT is stored only on top of the very version the planner had read (no lost update).

A second test races planners creating overlapping compounds: validation runs inside the
serialised write, so exactly one is stored and the others are told which compound they overlap.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import geopandas as gpd
import httpx
import pytest
import shapely
from shapely.geometry import mapping, shape

from gridgis.crs import STORAGE_CRS, metric_crs_for

pytestmark = pytest.mark.postgis

COMMUNITY = "310115005039"  # six grids, the hot spot
OTHER = "310115005045"  # a neighbouring community, for the compound race
PLANNERS = 7
RUN_SECONDS = 120.0  # at most; the planners stop once ENOUGH writes were stored
ENOUGH = 16
GEO = "application/geo+json"


@pytest.fixture(scope="module")
def served_city():
    """A fresh PostGIS store with the sample city, served by uvicorn; yields (base, tokens, repo)."""
    from pathlib import Path

    from gridgis.api.app import create_app
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.errors import StorageUnavailableError
    from gridgis.io import read_city
    from gridgis.settings import get_settings
    from gridgis.storage import Repository
    from gridgis.storage.testing import temporary_postgis_database, test_postgis_url
    from tests.live import LiveServer

    sample = Path(__file__).resolve().parents[2] / "data" / "geojson"
    try:
        database = temporary_postgis_database(test_postgis_url(), prefix="gridgis_t_concurrent")
        url = database.__enter__()
    except StorageUnavailableError as err:
        pytest.skip(f"PostGIS is not reachable: {err}")
    repo = Repository(url)
    try:
        repo.create_schema()
        repo.write_city(
            {k: v for k, v in read_city(sample).items() if k != "tickets"}, author="tests", message="sample city"
        )
        ensure_tables(repo.engine)
        store = TokenStore(repo.engine)
        tokens = [store.create(f"规划员{i}", "planner", [COMMUNITY, OTHER])[0] for i in range(PLANNERS)]
        with LiveServer(create_app(get_settings(database_url=url), repo)) as server:
            yield server.url, tokens, repo
    finally:
        repo.dispose()
        database.__exit__(None, None, None)


# ----------------------------------------------------------------------------- planners
class Planner:
    """One planner's session: reads over HTTP, computes an edit, sends it, records the answer."""

    def __init__(
        self,
        n: int,
        base: str,
        token: str,
        pairs: list[tuple[str, str]],
        compounds: dict[str, shapely.Geometry],
        deadline: float,
        stored: list[int] | None = None,
    ) -> None:
        self.n, self.base, self.pairs, self.compounds, self.deadline = n, base, pairs, compounds, deadline
        self.stored = stored if stored is not None else [0]
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        self.rng = random.Random(1000 + n)
        self.log: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def grids(self) -> dict[str, dict[str, Any]]:
        r = self.client.get("/collections/grids/items", params={"community_code": COMMUNITY, "limit": 100})
        r.raise_for_status()
        return {f["properties"]["code"]: f for f in r.json()["features"]}

    def move(self) -> None:
        a, b = self.rng.choice(self.pairs)
        if self.rng.random() < 0.5:
            a, b = b, a
        feats = self.grids()
        ga, gb = shape(feats[a]["geometry"]), shape(feats[b]["geometry"])
        shared = shapely.intersection(ga.boundary, gb.boundary)
        if shared.is_empty:
            return
        strip = shapely.buffer(shared, self.rng.uniform(2e-5, 6e-5))  # roughly 2–6 m
        grow = self.rng.random() < 0.5
        new_a = shapely.union(ga, shapely.intersection(strip, gb)) if grow else shapely.difference(ga, strip)
        if new_a.geom_type == "GeometryCollection":  # keep the polygon parts, as a drawing tool would
            new_a = shapely.union_all([g for g in new_a.geoms if g.geom_type in ("Polygon", "MultiPolygon")])
        body = {"a": a, "b": b, "geometry": mapping(new_a), "message": f"planner {self.n} moves {a}/{b}"}
        self.record("move", self.client.post("/operations/move-boundary", json=body))

    def transfer(self) -> None:
        code = self.rng.choice(sorted(self.compounds))
        compound = self.compounds[code]
        feats = self.grids()
        near = [
            c
            for c, f in feats.items()
            if shapely.intersects(shape(f["geometry"]), compound)
            and shapely.area(shapely.intersection(shape(f["geometry"]), compound)) < 0.98 * compound.area
        ]
        if not near:
            return
        body = {"compound": code, "to_grid": self.rng.choice(near)}
        self.record("transfer", self.client.post("/operations/transfer-compound", json=body))

    def put(self) -> None:
        code = self.rng.choice(sorted({c for pair in self.pairs for c in pair}))
        r = self.client.get(f"/collections/grids/items/{code}")
        r.raise_for_status()
        feat = r.json()
        population = self.n * 1_000_000 + len(self.log)  # unique per write
        feat["properties"]["population"] = population
        answer = self.client.put(f"/collections/grids/items/{code}", json=feat, headers={"Content-Type": GEO})
        self.record("put", answer, code=code, base_version=feat["properties"]["version"], population=population)

    def record(self, kind: str, response: httpx.Response, **extra: Any) -> None:
        if response.status_code == 200:
            self.stored[0] += 1
        try:
            body = response.json()
        except ValueError:
            body = response.text
        self.log.append(
            {
                "kind": kind,
                "status": response.status_code,
                "type": response.headers.get("content-type"),
                "body": body,
                "planner": self.n,
                **extra,
            }
        )

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline and self.stored[0] < ENOUGH:
                self.rng.choices([self.move, self.transfer, self.put], weights=[3, 2, 2])[0]()
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err
        finally:
            self.client.close()


def _adjacent_pairs(grids: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    geoms = dict(zip(map(str, grids["code"]), grids.geometry))
    return [
        (a, b)
        for a in geoms
        for b in geoms
        if a < b and shapely.intersection(geoms[a].boundary, geoms[b].boundary).length > 0
    ]


# ----------------------------------------------------------------------------- checks
def _coverage_problems(repo: Any, generation: int, community: shapely.Geometry, metric: str) -> list[str]:
    """What the one coverage rule finds in the community's grids and in each grid's micro-grids."""
    from gridgis.layers.coverage import check_coverage

    grids = repo.read_layer("grids", generation=generation, filters={"community_code": COMMUNITY})
    found = [
        f"generation {generation}: grids {code} is invalid ({shapely.is_valid_reason(g)})"
        for code, g in zip(grids["code"], grids.geometry)
        if not shapely.is_valid(g)
    ]
    if found:
        return found
    geoms = list(grids.geometry.values)  # checked as stored (lon/lat)
    if not shapely.coverage_is_valid(geoms):
        found.append(f"generation {generation}: the grids of {COMMUNITY} overlap or do not match edge to edge")
    rule = check_coverage(geoms, list(grids["code"]), community, metric_crs=metric)
    if not rule.ok:
        found.append(f"generation {generation}: {[(i.kind, i.codes, round(i.measure, 4)) for i in rule.issues]}")
    micro = repo.read_layer("micro_grids", generation=generation, filters={"grid_code": list(grids["code"])})
    for code, geom, hh in zip(grids["code"], grids.geometry, grids["households"]):
        mine = micro[micro["grid_code"] == code]
        if not len(mine):
            found.append(f"generation {generation}: grid {code} has no micro-grid")
            continue
        tiles = check_coverage(list(mine.geometry.values), list(mine["code"]), geom, metric_crs=metric)
        if not tiles.ok or set(mine.geometry.geom_type) != {"Polygon"}:
            found.append(f"generation {generation}: micro-grids of {code} do not tile it: {tiles.issues[:3]}")
        if int(mine["households"].sum()) != int(hh):
            found.append(f"generation {generation}: micro-grids of {code} hold {mine['households'].sum()} ≠ {hh}")
    return found


def _generation_of(entry: dict[str, Any], repo: Any) -> int:
    if entry["kind"] == "put":
        version = entry["body"]["properties"]["version"]
        history = repo.feature_history("grids", entry["code"])
        return next(h["generation"] for h in history if h["version"] == version)
    return int(entry["body"]["generation"]["id"])


def test_planners_editing_the_same_grids_at_once_lose_nothing_and_keep_the_coverage_valid(served_city):
    base, tokens, repo = served_city
    start = repo.current_generation().id
    grids = repo.read_layer("grids", filters={"community_code": COMMUNITY})
    compounds = repo.read_layer("compounds", filters={"community_code": COMMUNITY})
    pairs = _adjacent_pairs(grids)
    assert len(pairs) >= 5
    deadline = time.monotonic() + RUN_SECONDS
    stored = [0]
    planners = [
        Planner(i, base, tokens[i], pairs, dict(zip(map(str, compounds["code"]), compounds.geometry)), deadline, stored)
        for i in range(PLANNERS)
    ]
    threads = [threading.Thread(target=p.run) for p in planners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_SECONDS + 60)
    assert not [p.error for p in planners if p.error], [repr(p.error) for p in planners if p.error]
    log = [entry for p in planners for entry in p.log]

    # every answer is a success or a refusal that says why, naming the feature
    for entry in log:
        if entry["status"] == 200:
            continue
        assert entry["status"] in (409, 412, 422), entry
        assert (entry["type"] or "").startswith("application/problem+json"), entry
        assert COMMUNITY in json.dumps(entry["body"], ensure_ascii=False), entry
    # a PUT that only changes an attribute can be refused for one reason only: it was stale
    assert {e["status"] for e in log if e["kind"] == "put"} <= {200, 412}
    accepted = [e for e in log if e["status"] == 200]
    tally = {f"{e['kind']} {e['status']}": 0 for e in log}
    for e in log:
        tally[f"{e['kind']} {e['status']}"] += 1
    print(f"{len(log)} edits by {PLANNERS} planners in {RUN_SECONDS:.0f} s:", dict(sorted(tally.items())))
    assert len(accepted) >= 10, f"only {len(accepted)} of {len(log)} edits were stored"
    assert any(e["status"] == 412 for e in log), "no two planners ever raced; the test proved nothing"

    # one acknowledged write per committed generation, and the other way round
    by_generation: dict[int, dict[str, Any]] = {}
    for entry in accepted:
        gen = _generation_of(entry, repo)
        assert gen not in by_generation, f"generation {gen} was acknowledged twice"
        by_generation[gen] = entry
    committed = [g.id for g in repo.generations() if g.id > start]
    assert sorted(by_generation) == committed

    community = repo.get_feature("communities", COMMUNITY)["geometry"]
    metric = metric_crs_for(gpd.GeoSeries([community], crs=STORAGE_CRS))
    problems: list[str] = _coverage_problems(repo, start, community, metric)
    assert not problems, f"the sample city itself: {problems[:3]}"
    for gen in committed:
        problems += _coverage_problems(repo, gen, community, metric)
        entry = by_generation[gen]
        diff = repo.diff(gen - 1, gen)
        changed = diff[diff["layer"] == "grids"]
        assert set(changed["op"]) == {"changed"}, (gen, entry)
        assert all(changed["version_b"] == changed["version_a"] + 1), (gen, changed[["code", "version_a", "version_b"]])
        if entry["kind"] == "put":
            # stored on top of exactly the version the planner read: nobody's change was overwritten
            assert list(changed["code"]) == [entry["code"]], (gen, entry)
            assert int(changed["version_a"].iloc[0]) == entry["base_version"], (gen, entry)
            assert repo.get_feature("grids", entry["code"], generation=gen)["population"] == entry["population"]
        else:
            said = {
                f["properties"]["code"]: shape(f["geometry"])
                for f in entry["body"]["changes"]["features"]
                if f["properties"]["layer"] == "grids"
            }
            assert set(changed["code"]) == set(said), (gen, entry)
            stored = repo.read_layer("grids", generation=gen, codes=sorted(said))
            for code, geom in zip(stored["code"], stored.geometry):
                assert shapely.equals_exact(geom, said[code], 1e-7), (gen, code)
    assert not problems, problems[:5]
    # the current state is the last generation's: later generations only ever build on earlier ones
    assert repo.current_generation().id == (committed[-1] if committed else start)


def test_planners_creating_overlapping_compounds_at_once_store_exactly_one(served_city):
    base, tokens, repo = served_city
    community = repo.get_feature("communities", OTHER)["geometry"]
    taken = repo.read_layer("compounds", filters={"community_code": OTHER})
    free = shapely.buffer(shapely.difference(community, shapely.union_all(list(taken.geometry.values))), -0.0003)
    p = shapely.point_on_surface(free)
    spot = shapely.box(p.x - 0.0001, p.y - 0.0001, p.x + 0.0001, p.y + 0.0001)  # ~20 m × 22 m
    start = threading.Barrier(PLANNERS)
    answers: list[httpx.Response | None] = [None] * PLANNERS

    def create(i: int) -> None:
        code = f"{OTHER}Q9{i:02d}"
        body = {
            "type": "Feature",
            "geometry": mapping(spot),
            "properties": {
                "code": code,
                "name": f"新建小区{i}",
                "community_code": OTHER,
                "kind": "residential",
                "households": 10,
            },
        }
        with httpx.Client(headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=60) as client:
            start.wait()
            answers[i] = client.post(f"{base}/collections/compounds/items", json=body, headers={"Content-Type": GEO})

    threads = [threading.Thread(target=create, args=(i,)) for i in range(PLANNERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(a.status_code for a in answers if a is not None)
    assert statuses == [201] + [422] * (PLANNERS - 1), [a.text for a in answers if a is not None]
    winner = next(a.json()["properties"]["code"] for a in answers if a is not None and a.status_code == 201)
    for a in answers:
        if a is not None and a.status_code == 422:
            assert a.headers["content-type"].startswith("application/problem+json")
            kinds = {(pr.get("kind"), (pr.get("details") or {}).get("other")) for pr in a.json()["problems"]}
            assert ("overlap", winner) in kinds, a.json()
    stored = repo.read_layer("compounds", filters={"community_code": OTHER})
    assert len(stored) == len(taken) + 1
    on_spot = [
        str(c) for c, g in zip(stored["code"], stored.geometry) if shapely.area(shapely.intersection(g, spot)) > 0
    ]
    assert on_spot == [winner]
