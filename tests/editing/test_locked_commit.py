"""Validation runs inside the serialised write: it sees the state the commit lands on."""

from __future__ import annotations

import pytest
import shapely

from gridgis.editing import service
from gridgis.editing.changes import Edit
from gridgis.errors import ValidationError
from gridgis.sample.tiny import COMMUNITY_A, tiny_city
from gridgis.storage.model import FeatureChange

SPOT = shapely.box(116.4001, 39.9001, 116.4003, 39.9003)


def _compound(n: int) -> Edit:
    return Edit(
        "compounds",
        "create",
        f"{COMMUNITY_A}Q9{n:02d}",
        {"name": f"新小区{n}", "community_code": COMMUNITY_A, "kind": "residential", "households": 5},
        SPOT,
    )


@pytest.fixture
def city(repository):
    repository.write_city(tiny_city(), author="tests", message="tiny city")
    return repository


def test_a_failing_check_inside_the_write_stores_nothing(city):
    before = city.current_generation().id

    def refuse(state):
        assert state.get_feature("grids", COMMUNITY_A + "001")["version"] == 1
        raise ValidationError("refused by the check", [])

    change = FeatureChange("grids", "delete", COMMUNITY_A + "001", expected_version=1)
    with pytest.raises(ValidationError, match="refused by the check"):
        city.apply_changes([change], author="tests", check=refuse)
    assert city.current_generation().id == before
    assert city.get_feature("grids", COMMUNITY_A + "001")["version"] == 1


def test_edits_validated_earlier_are_validated_again_against_what_was_committed_meanwhile(city):
    first, second = _compound(1), _compound(2)
    assert service.check(city, [first]) == [] and service.check(city, [second]) == []  # each fine alone
    service.commit(city, [first], "规划员甲", "new compound")
    with pytest.raises(ValidationError) as refused:
        service.commit(city, [second], "规划员乙", "the same spot, planned at the same time")
    assert any(p.kind == "overlap" and p.details.get("other") == first.code for p in refused.value.problems)
    stored = city.read_layer("compounds", bbox=SPOT.bounds)
    assert list(stored["code"]) == [first.code]


def test_the_locked_state_reads_the_current_features_with_their_versions(city):
    seen = {}

    def look(state):
        frame = state.read_layer("grids", filters={"community_code": COMMUNITY_A})
        seen.update(zip(frame["code"], frame["version"]))
        seen["bbox"] = len(state.read_layer("grids", bbox=(116.4001, 39.9001, 116.4002, 39.9002)))

    city.apply_changes(
        [
            FeatureChange(
                "grids",
                "replace",
                COMMUNITY_A + "001",
                {
                    **{
                        k: v
                        for k, v in city.get_feature("grids", COMMUNITY_A + "001").items()
                        if k
                        not in (
                            "layer",
                            "code",
                            "geometry",
                            "version",
                            "parent_code",
                            "generation_low",
                            "generation_high",
                        )
                    },
                    "population": 4321,
                },
                city.get_feature("grids", COMMUNITY_A + "001")["geometry"],
                1,
            )
        ],
        author="tests",
        check=look,
    )
    assert seen[COMMUNITY_A + "001"] == 1 and seen[COMMUNITY_A + "002"] == 1 and seen["bbox"] == 1
    assert city.get_feature("grids", COMMUNITY_A + "001")["population"] == 4321
