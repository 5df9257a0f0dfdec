"""SQLite's spatial index of features (the R*Tree ``features_rtree``): it holds every row's box through
every write — new generations, edits, reverts, hand updates and deletes, rolled-back writes — a box query
through it finds what a full scan finds, the planner uses it, and migration 0007 builds it for a store
that existed before it."""

from __future__ import annotations

import random

import pytest
import shapely
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from shapely.geometry import box

from gridgis.storage import Repository, queries
from gridgis.storage.model import FeatureChange
from gridgis.storage.repository import MIGRATIONS
from gridgis.storage.schema import features, sqlite_in_box
from tests.support.storage import tiny_city

COMMUNITY = "110105001001"
EXTENT = (116.39, 39.89, 116.51, 39.97)  # around tiny_city


def _boxes(n: int, seed: int, extent=EXTENT) -> list[tuple[float, float, float, float]]:
    rng = random.Random(seed)
    x0, y0, x1, y1 = extent
    out = []
    for _ in range(n):
        w, h = rng.uniform(0, (x1 - x0) / 3), rng.uniform(0, (y1 - y0) / 3)
        minx, miny = rng.uniform(x0, x1 - w), rng.uniform(y0, y1 - h)
        out.append((minx, miny, minx + w, miny + h))
    out.append((116.425, 39.925, 116.425, 39.925))  # a point on shared edges
    return out


def _assert_index_true(repo: Repository, boxes=None) -> None:
    """The R*Tree holds exactly the rows of ``features``, each with a box around the row's, and a box
    query through it (every generation's rows at once) finds what a scan of the columns finds."""
    with repo.engine.connect() as conn:
        rows = conn.execute(
            sa.select(features.c.id, features.c.min_lon, features.c.max_lon, features.c.min_lat, features.c.max_lat)
        ).all()
        tree = {
            r[0]: r[1:]
            for r in conn.exec_driver_sql("SELECT id, min_lon, max_lon, min_lat, max_lat FROM features_rtree")
        }
        assert set(tree) == {r[0] for r in rows}
        for fid, x0, x1, y0, y1 in rows:
            t0, t1, u0, u1 = tree[fid]  # 32-bit floats rounded outwards
            assert t0 <= x0 <= t0 + 1e-4 and t1 - 1e-4 <= x1 <= t1 and u0 <= y0 <= u0 + 1e-4 and u1 - 1e-4 <= y1 <= u1
        for b in boxes or _boxes(40, seed=len(rows)):
            minx, miny, maxx, maxy = b
            scan = {fid for fid, x0, x1, y0, y1 in rows if x1 >= minx and x0 <= maxx and y1 >= miny and y0 <= maxy}
            through = set(conn.execute(sa.select(features.c.id).where(*sqlite_in_box(*b))).scalars())
            assert through == scan, b


def _check_reads(repo: Repository) -> None:
    """Every layer's box reads (through the index) equal the full read filtered in Python, in every generation."""
    for gen in repo.generations():
        for layer in ("micro_grids", "compounds", "buildings", "stations"):
            whole = repo.read_layer(layer, generation=gen.id)
            for b in _boxes(8, seed=gen.id):
                expected = sorted(whole[shapely.intersects(whole.geometry.values, box(*b))]["code"])
                assert sorted(repo.read_layer(layer, generation=gen.id, bbox=b)["code"]) == expected


def test_the_index_holds_every_row_through_generations_edits_and_reverts(make_repository):
    repo = make_repository("sqlite")
    city = tiny_city()
    first = repo.write_city(city, author="t")
    _assert_index_true(repo)
    # a new generation: one micro-grid moved, a station retired
    city2 = tiny_city()
    micro = city2["micro_grids"]
    micro.loc[0, "geometry"] = box(116.40, 39.90, 116.42, 39.925)
    city2["micro_grids"] = micro
    city2["stations"] = city2["stations"].iloc[:1]
    repo.write_city({"micro_grids": city2["micro_grids"], "stations": city2["stations"]}, author="t")
    _assert_index_true(repo)
    # edits: a compound reshaped, a building deleted, a station created
    station = city["stations"].iloc[0].to_dict()
    new_station = {**station, "code": station["code"][:-3] + "009", "geometry": shapely.Point(116.47, 39.93)}
    building = str(city["buildings"]["code"].iloc[0])
    repo.apply_changes(
        [
            FeatureChange("compounds", "replace", COMMUNITY + "Q002", {}, box(116.426, 39.901, 116.44, 39.91)),
            FeatureChange("buildings", "delete", building),
            FeatureChange.from_row("stations", new_station, op="create"),
        ],
        author="t",
    )
    _assert_index_true(repo)
    repo.revert_to(first.id, author="t")
    _assert_index_true(repo)
    assert len(repo.generations()) == 4
    _check_reads(repo)


def _row(n: int, b: tuple[float, float, float, float]) -> dict:
    return {
        "layer": "buildings",
        "code": f"{COMMUNITY}Q900B{n:04d}",
        "name": "楼",
        "parent_code": None,
        "properties": {},
        "geometry": box(*b),
        "min_lon": b[0],
        "min_lat": b[1],
        "max_lon": b[2],
        "max_lat": b[3],
        "version": 1,
    }


def test_many_rows_hand_updates_and_deletes_keep_the_index_and_a_rolled_back_write_leaves_it(make_repository):
    repo = make_repository("sqlite")
    rng = random.Random(7)
    corners = [(rng.uniform(116.39, 116.5), rng.uniform(39.89, 39.96)) for _ in range(1500)]
    boxes = [(x, y, x + rng.uniform(0, 0.002), y + rng.uniform(0, 0.002)) for x, y in corners]
    with repo._writing("test") as conn:  # enough rows for a tree of several levels, through the one writer
        gen = queries.new_generation(conn, "t", "", postgis=False)
        queries._store(conn, gen, None, [], [_row(i, b) for i, b in enumerate(boxes)])
    _assert_index_true(repo)
    with repo.session() as s:  # what gridgis never does (it only closes rows), by hand: triggers keep up
        s.execute(features.delete().where(features.c.id % 3 == 0))
        s.execute(
            features.update()
            .where(features.c.id % 3 == 1)
            .values(min_lon=features.c.min_lon + 0.01, max_lon=features.c.max_lon + 0.01)
        )
        s.execute(features.update().where(features.c.id % 3 == 2).values(generation_high=1))  # closing only
        s.execute(features.delete().where(features.c.id == len(boxes)))  # the newest row: its id comes again
    _assert_index_true(repo)
    repo.write_city(tiny_city(), author="t")  # a write after hand deletes
    _assert_index_true(repo)
    before = _tree(repo)
    with pytest.raises(RuntimeError), repo._writing("test") as conn:
        gen = queries.new_generation(conn, "t", "", postgis=False)
        queries._store(conn, gen, gen.id - 1, [1, 2], [_row(9000, (116.4, 39.9, 116.41, 39.91))])
        raise RuntimeError("the write fails after its rows")
    assert _tree(repo) == before
    _assert_index_true(repo)


def _tree(repo: Repository) -> dict:
    with repo.engine.connect() as conn:
        return {r[0]: r[1:] for r in conn.exec_driver_sql("SELECT * FROM features_rtree")}


def test_a_box_query_is_answered_through_the_index_not_by_scanning_the_layer(make_repository):
    from gridgis.maps import viewer
    from gridgis.maps.tiles import tile_for

    repo = make_repository("sqlite")
    repo.write_city(tiny_city(), author="t")
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM features" in statement and "features_rtree" in statement:
            seen.append((statement, parameters))

    sa.event.listen(repo.engine, "before_cursor_execute", record)
    try:
        x, y = tile_for(116.41, 39.91, 15)
        assert len(viewer.load_window(repo, "micro_grids", viewer.generation_key(repo), 15, x, y).records) > 0
        repo.read_layer("micro_grids", bbox=(116.40, 39.90, 116.41, 39.91))
    finally:
        sa.event.remove(repo.engine, "before_cursor_execute", record)
    assert len(seen) == 2
    with repo.engine.connect() as conn:
        for statement, parameters in seen:
            steps = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert "SCAN features_rtree VIRTUAL TABLE" in " ".join(steps), steps  # the hits, by the tree
            assert "SEARCH features USING INTEGER PRIMARY KEY (rowid=?)" in steps, steps  # fetched by id
            assert not any(s.startswith(("SCAN features ", "SEARCH features USING INDEX")) for s in steps), steps


def test_migration_0007_indexes_the_rows_of_a_store_made_before_it(make_repository):
    repo = make_repository("sqlite")
    city = tiny_city()
    repo.write_city(city, author="t")
    city["micro_grids"].loc[1, "geometry"] = box(116.40, 39.925, 116.42, 39.95)
    repo.write_city({"micro_grids": city["micro_grids"]}, author="t")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with repo.engine.begin() as conn:  # the store as it was before 0007: the same rows, no spatial index
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with repo.engine.connect() as conn:
        assert "features_rtree" not in sa.inspect(conn).get_table_names()
        assert conn.exec_driver_sql("SELECT count(*) FROM features").scalar() > 0
    repo.create_schema()  # what `gridgis db upgrade` does
    assert repo.schema_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    _assert_index_true(repo)
    _check_reads(repo)
    repo.write_city(tiny_city(), author="t")  # later writes keep it
    _assert_index_true(repo)
