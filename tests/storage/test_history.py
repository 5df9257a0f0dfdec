"""Generations: reading the past by generation and by date, per-feature history, diff, revert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely
from shapely.geometry import box

from gridgis.errors import NotFoundError, ValidationError
from gridgis.storage import FeatureChange
from tests.support.storage import tiny_city

GRID1 = "110105001001001"
GRID2 = "110105001001002"
STATION = "110105001000S001"


def _three_generations(repo):
    """g1: the city; g2: grid 1 gets more households; g3: grid 2 redrawn and a station closed."""
    g1 = repo.write_city(tiny_city(), author="导入员", message="初始导入")
    g2 = repo.apply_changes(
        [FeatureChange("grids", "replace", GRID1, {"households": 480}, expected_version=1)],
        author="规划员甲",
        message="户数更新",
    )
    g3 = repo.apply_changes(
        [
            FeatureChange("grids", "replace", GRID2, geometry=box(116.425, 39.90, 116.45, 39.94), expected_version=1),
            FeatureChange("stations", "delete", STATION, expected_version=1),
        ],
        author="规划员乙",
        message="调整边界",
    )
    return g1, g2, g3


def test_each_write_is_a_generation_with_author_time_and_message(repository):
    g1, g2, g3 = _three_generations(repository)
    gens = repository.generations()
    assert [g.id for g in gens] == [g1.id, g2.id, g3.id] and g1.id < g2.id < g3.id
    assert [g.author for g in gens] == ["导入员", "规划员甲", "规划员乙"]
    assert [g.message for g in gens] == ["初始导入", "户数更新", "调整边界"]
    assert all(g.created_at.tzinfo is not None for g in gens)
    assert gens[0].created_at <= gens[1].created_at <= gens[2].created_at
    assert repository.current_generation() == g3
    assert repository.generation(g2.id) == g2


def test_old_generations_stay_readable(repository):
    g1, g2, g3 = _three_generations(repository)
    households = {
        g.id: repository.read_layer("grids", generation=g.id).set_index("code")["households"].to_dict()
        for g in (g1, g2, g3)
    }
    assert households[g1.id][GRID1] == 420 and households[g2.id][GRID1] == 480
    assert repository.count("stations", generation=g2.id) == 2
    assert repository.count("stations", generation=g3.id) == 1
    assert repository.counts(generation=g1.id)["stations"] == 2
    old = repository.get_feature("grids", GRID2, generation=g2.id)
    assert old["version"] == 1 and old["geometry"].equals(box(116.425, 39.90, 116.45, 39.95))
    assert repository.get_feature("grids", GRID2)["version"] == 2


def test_reading_as_of_a_date_picks_the_generation_current_then(repository):
    g1, g2, g3 = _three_generations(repository)
    assert repository.generation_at(g2.created_at) == g2
    between = g2.created_at + (g3.created_at - g2.created_at) / 2
    assert repository.generation_at(between) == g2
    at_g2 = repository.read_layer("stations", at=between)
    assert sorted(at_g2["code"]) == sorted(tiny_city()["stations"]["code"])
    assert repository.read_layer("stations", at=datetime.now(UTC) + timedelta(days=1))["code"].tolist() == [
        "110105001001S001"
    ]
    naive_utc = g1.created_at.astimezone(UTC).replace(tzinfo=None)
    assert repository.generation_at(naive_utc) == g1
    with pytest.raises(NotFoundError, match="no generation"):
        repository.generation_at(g1.created_at - timedelta(days=1))
    with pytest.raises(ValidationError, match="not both"):
        repository.read_layer("grids", generation=g1.id, at=between)


def test_unknown_generation_is_refused(repository):
    _three_generations(repository)
    with pytest.raises(NotFoundError, match="generation 99"):
        repository.read_layer("grids", generation=99)


def test_feature_history_lists_every_version_with_who_when_and_why(repository):
    g1, g2, g3 = _three_generations(repository)
    history = repository.feature_history("grids", GRID1)
    assert [h["version"] for h in history] == [1, 2]
    assert [h["generation"] for h in history] == [g1.id, g2.id]
    assert [h["author"] for h in history] == ["导入员", "规划员甲"]
    assert [h["properties"]["households"] for h in history] == [420, 480]
    assert history[0]["ended_in"] == g2.id and history[1]["ended_in"] is None
    assert history[0]["name"] == "吉祥里第一网格" and history[0]["geometry"].geom_type == "Polygon"
    deleted = repository.feature_history("stations", STATION)
    assert len(deleted) == 1 and deleted[0]["ended_in"] == g3.id
    with pytest.raises(NotFoundError, match="never existed"):
        repository.feature_history("grids", "110105001001099")


def test_diff_lists_added_removed_and_changed_features(repository):
    g1, g2, g3 = _three_generations(repository)
    d = repository.diff(g1.id, g3.id)
    assert d.crs.to_epsg() == 4326
    ops = dict(zip(d["code"], d["op"], strict=True))
    assert ops == {GRID1: "changed", GRID2: "changed", STATION: "removed"}
    row = d.set_index("code").loc[GRID2]
    assert (row["version_a"], row["version_b"]) == (1, 2)
    assert row["geometry"].equals(box(116.425, 39.90, 116.45, 39.94))
    assert row["geometry_a"].equals(box(116.425, 39.90, 116.45, 39.95))
    assert d.set_index("code").loc[GRID1, "properties_b"]["households"] == 480
    backwards = repository.diff(g3.id, g1.id, layer="stations")
    assert backwards["op"].tolist() == ["added"] and backwards["code"].tolist() == [STATION]
    assert repository.diff(g2.id, g2.id).empty
    assert repository.diff(g1.id, g2.id, layer="stations").empty
    with pytest.raises(NotFoundError):
        repository.diff(g1.id, 404)


def test_revert_makes_a_new_generation_equal_to_the_old_one(repository):
    g1, _, g3 = _three_generations(repository)
    g4 = repository.revert_to(g1.id, author="审核员", message="撤销调整")
    assert g4.id > g3.id and g4.author == "审核员"
    assert repository.diff(g1.id, g4.id).empty
    for layer, frame in tiny_city().items():
        now = repository.read_layer(layer)
        assert sorted(now["code"]) == sorted(frame["code"])
    back = repository.get_feature("grids", GRID2)
    assert back["version"] == 3 and back["geometry"].equals(box(116.425, 39.90, 116.45, 39.95))
    assert repository.get_feature("stations", STATION)["version"] == 2
    # the reverted-away state is still there to read
    assert repository.count("stations", generation=g3.id) == 1
    assert len(repository.feature_history("grids", GRID2)) == 3


def test_reverting_to_the_current_state_adds_no_generation(repository):
    _, _, g3 = _three_generations(repository)
    assert repository.revert_to(g3.id, author="t") == g3
    assert len(repository.generations()) == 3


def test_revert_restores_features_created_later_as_removed(repository):
    g1, _, _ = _three_generations(repository)
    new_code = "110105001001003"
    repository.apply_changes(
        [
            FeatureChange(
                "grids",
                "create",
                new_code,
                {"name": "新网格", "community_code": "110105001001"},
                geometry=box(116.44, 39.94, 116.45, 39.95),
            )
        ],
        author="t",
    )
    repository.revert_to(g1.id, author="t")
    assert new_code not in set(repository.read_layer("grids")["code"])
    assert shapely.equals(
        repository.read_layer("grids", codes=[GRID1]).geometry.iloc[0], box(116.40, 39.90, 116.425, 39.95)
    )


def test_read_city_returns_every_layer_as_of_a_generation(repository):
    g1, _, _ = _three_generations(repository)
    now = repository.read_city()
    then = repository.read_city(generation=g1.id)
    assert (
        list(now)
        == list(then)
        == ["streets", "communities", "compounds", "buildings", "grids", "micro_grids", "stations"]
    )
    assert len(now["stations"]) == 1 and len(then["stations"]) == 2
    assert then["grids"].set_index("code").loc[GRID1, "households"] == 420
