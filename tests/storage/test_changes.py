"""Feature changes: create/replace/delete in one transaction, optimistic locking, concurrent writers."""

from __future__ import annotations

import threading

import pytest
from shapely.geometry import Polygon, box

from gridgis.errors import ConflictError, NotFoundError, PreconditionFailedError, ValidationError
from gridgis.storage import FeatureChange
from tests.support.storage import tiny_city

GRID1 = "110105001001001"
GRID2 = "110105001001002"
NEW_GRID = "110105001001003"
COMMUNITY = "110105001001"


def _new_grid(code: str = NEW_GRID, **props) -> FeatureChange:
    return FeatureChange(
        "grids",
        "create",
        code,
        {"name": "新建网格", "community_code": COMMUNITY, **props},
        geometry=box(116.44, 39.94, 116.45, 39.95),
    )


def test_replace_keeps_fields_left_out_and_bumps_the_version(repository):
    repository.write_city(tiny_city(), author="t")
    repository.apply_changes(
        [FeatureChange("grids", "replace", GRID1, {"population": 1100}, expected_version=1)], author="t"
    )
    grid = repository.get_feature("grids", GRID1)
    assert grid["version"] == 2 and grid["population"] == 1100
    assert grid["households"] == 420 and grid["name"] == "吉祥里第一网格" and len(grid["workers"]) == 2


def test_create_replace_and_delete_in_one_generation(repository):
    g1 = repository.write_city(tiny_city(), author="t")
    g2 = repository.apply_changes(
        [
            _new_grid(households=350),
            FeatureChange("grids", "replace", GRID2, {"name": "吉祥里第二网格"}, expected_version=1),
            FeatureChange("micro_grids", "delete", GRID1 + "02"),
        ],
        author="规划员",
        message="批量调整",
    )
    assert g2.id == g1.id + 1
    grids = repository.read_layer("grids").set_index("code")
    assert grids.loc[NEW_GRID, "households"] == 350 and grids.loc[NEW_GRID, "version"] == 1
    assert grids.loc[NEW_GRID, "kind"] == "basic"  # the default of a field left out
    assert grids.loc[GRID2, "name"] == "吉祥里第二网格"
    assert repository.read_layer("micro_grids")["code"].tolist() == [GRID1 + "01"]
    assert set(repository.diff(g1.id, g2.id)["op"]) == {"added", "changed", "removed"}


def test_stale_expected_version_is_refused_naming_the_feature_and_stores_nothing(repository):
    repository.write_city(tiny_city(), author="t")
    repository.apply_changes(
        [FeatureChange("grids", "replace", GRID1, {"households": 430}, expected_version=1)], author="甲"
    )
    before = repository.generations()
    with pytest.raises(PreconditionFailedError) as caught:
        repository.apply_changes(
            [
                FeatureChange("grids", "replace", GRID2, {"households": 1}, expected_version=1),
                FeatureChange("grids", "replace", GRID1, {"households": 999}, expected_version=1),
            ],
            author="乙",
        )
    assert GRID1 in str(caught.value) and "吉祥里第一网格" in str(caught.value)
    assert caught.value.problems[0].details == {"expected": 1, "current": 2}
    assert repository.generations() == before
    grids = repository.read_layer("grids").set_index("code")
    assert grids.loc[GRID1, "households"] == 430 and grids.loc[GRID2, "households"] == 310


def test_creating_an_existing_code_is_a_conflict(repository):
    repository.write_city(tiny_city(), author="t")
    with pytest.raises(ConflictError, match=GRID1):
        repository.apply_changes([_new_grid(GRID1)], author="t")
    assert repository.get_feature("grids", GRID1)["version"] == 1


def test_changing_a_missing_feature_is_not_found(repository):
    repository.write_city(tiny_city(), author="t")
    with pytest.raises(NotFoundError, match="110105001001077"):
        repository.apply_changes([FeatureChange("grids", "delete", "110105001001077")], author="t")


def test_invalid_geometry_in_the_middle_of_a_batch_stores_nothing(repository):
    repository.write_city(tiny_city(), author="t")
    bowtie = Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])
    with pytest.raises(ValidationError) as caught:
        repository.apply_changes(
            [
                FeatureChange("grids", "replace", GRID2, {"households": 5}),
                FeatureChange("grids", "replace", GRID1, geometry=bowtie),
                _new_grid(),
            ],
            author="t",
        )
    assert GRID1 in str(caught.value) and "Self-intersection" in str(caught.value)
    assert len(repository.generations()) == 1
    assert repository.count("grids") == 2
    assert repository.get_feature("grids", GRID2)["households"] == 310


def test_malformed_batches_are_refused_before_touching_the_store(repository):
    with pytest.raises(ValidationError, match="no changes"):
        repository.apply_changes([], author="t")
    with pytest.raises(ValidationError, match="twice"):
        repository.apply_changes([_new_grid(), _new_grid()], author="t")
    with pytest.raises(ValidationError, match="geometry"):
        repository.apply_changes([FeatureChange("grids", "create", NEW_GRID, {"name": "x"})], author="t")
    with pytest.raises(ValidationError, match="operation"):
        repository.apply_changes([FeatureChange("grids", "upsert", NEW_GRID)], author="t")  # type: ignore[arg-type]


def test_a_change_that_changes_nothing_adds_no_version(repository):
    g1 = repository.write_city(tiny_city(), author="t")
    same = repository.apply_changes([FeatureChange("grids", "replace", GRID1, {"households": 420})], author="t")
    assert same == g1 and repository.get_feature("grids", GRID1)["version"] == 1


def test_recreated_feature_continues_its_version_numbers(repository):
    repository.write_city(tiny_city(), author="t")
    repository.apply_changes([FeatureChange("grids", "delete", GRID2)], author="t")
    row = tiny_city()["grids"].iloc[1]
    repository.apply_changes([FeatureChange.from_row("grids", row.to_dict(), op="create")], author="t")
    assert repository.get_feature("grids", GRID2)["version"] == 2


def _race(repository, expected_version: int, writers: int = 2) -> list[object]:
    """``writers`` threads replace the same grid with the same expected version, all at once."""
    barrier = threading.Barrier(writers)
    outcomes: list[object] = [None] * writers

    def write(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = repository.apply_changes(
                [FeatureChange("grids", "replace", GRID1, {"households": 500 + i}, expected_version=expected_version)],
                author=f"planner-{i}",
            )
        except Exception as err:  # noqa: BLE001 - the outcome is inspected below
            outcomes[i] = err

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_concurrent_writers_with_the_same_version_exactly_one_wins(repository):
    repository.write_city(tiny_city(), author="t")
    outcomes = _race(repository, expected_version=1, writers=4)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, PreconditionFailedError) for o in losers), outcomes
    grid = repository.get_feature("grids", GRID1)
    assert grid["version"] == 2 and grid["households"] == 500 + outcomes.index(winners[0])
    assert len(repository.feature_history("grids", GRID1)) == 2


@pytest.mark.postgis
def test_two_repositories_on_one_postgis_database_cannot_lose_an_update(make_repository):
    """Two processes' worth of pools (two Repository objects) on one database: still one winner."""
    from gridgis.storage import Repository

    first = make_repository("postgis")
    first.write_city(tiny_city(), author="t")
    second = Repository(first.url)
    try:
        barrier = threading.Barrier(2)
        outcomes: list[object] = [None, None]

        def write(i: int, repo: Repository) -> None:
            barrier.wait()
            try:
                outcomes[i] = repo.apply_changes(
                    [FeatureChange("grids", "replace", GRID2, {"population": 900 + i}, expected_version=1)],
                    author=f"p{i}",
                )
            except Exception as err:  # noqa: BLE001
                outcomes[i] = err

        threads = [threading.Thread(target=write, args=(i, r)) for i, r in enumerate((first, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes
        assert any(isinstance(o, PreconditionFailedError) for o in outcomes), outcomes
        assert second.get_feature("grids", GRID2)["version"] == 2
    finally:
        second.dispose()
