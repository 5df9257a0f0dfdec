"""Validation of edits: every problem found, located, on the tiny example city."""

from __future__ import annotations

import pytest
from shapely.geometry import Point, Polygon, box

from gridgis.editing.changes import Edit, row_properties
from gridgis.editing.validate import validate_edits
from gridgis.sample.tiny import COMMUNITY_A, tiny_city

G1, G2 = COMMUNITY_A + "001", COMMUNITY_A + "002"


@pytest.fixture()
def city():
    return tiny_city()


def _replace(city, layer, code, geometry=None, **props):
    row = city[layer].set_index("code", drop=False).loc[code]
    p = row_properties(layer, row)
    p.update(props)
    return Edit(layer, "replace", code, p, geometry if geometry is not None else row.geometry)


def kinds(problems):
    return sorted(p.kind for p in problems)


def test_an_unchanged_city_has_no_problems(city):
    assert validate_edits(city, [_replace(city, "grids", G1)]) == []


def test_shrinking_a_grid_alone_leaves_a_located_gap(city):
    problems = validate_edits(city, [_replace(city, "grids", G1, box(116.400, 39.900, 116.404, 39.910))])
    gap = [p for p in problems if p.kind == "gap"]
    assert len(gap) == 1
    assert gap[0].details["area_m2"] > 1000
    x, y = gap[0].where
    assert 116.404 < x < 116.405 and 39.900 < y < 39.910
    assert "move-boundary" in gap[0].message


def test_growing_a_grid_into_its_neighbour_is_an_overlap(city):
    problems = validate_edits(city, [_replace(city, "grids", G1, box(116.400, 39.900, 116.406, 39.910))])
    overlap = [p for p in problems if p.kind == "overlap"]
    assert [p.details["other"] for p in overlap] == [G2]
    assert 116.405 < overlap[0].where[0] < 116.406


def test_a_grid_outside_its_community_is_refused(city):
    problems = validate_edits(city, [_replace(city, "grids", G1, box(116.399, 39.900, 116.405, 39.910))])
    assert "outside_parent" in kinds(problems)


def test_every_problem_is_reported_at_once(city):
    bowtie = Polygon([(116.400, 39.900), (116.405, 39.910), (116.405, 39.900), (116.400, 39.910)])
    edit = _replace(city, "grids", G1, bowtie, community_code=COMMUNITY_A[:-1] + "2", kind="nonsense")
    found = kinds(validate_edits(city, [edit]))
    assert {"invalid_geometry", "inconsistent_code", "bad_value"} <= set(found)
    invalid = next(p for p in validate_edits(city, [edit]) if p.kind == "invalid_geometry")
    assert "Self-intersection" in invalid.message and invalid.where is not None


def test_wrong_geometry_type_and_swapped_coordinates_are_refused(city):
    wrong = _replace(city, "grids", G1, Point(116.401, 39.901))
    swapped = _replace(city, "grids", G1, box(39.900, 116.400, 39.910, 116.405))
    assert "wrong_geometry_type" in kinds(validate_edits(city, [wrong]))
    assert "out_of_area" in kinds(validate_edits(city, [swapped]))


def test_moving_both_sides_of_a_boundary_together_is_valid(city):
    edits = [
        _replace(city, "grids", G1, box(116.400, 39.900, 116.406, 39.910)),
        _replace(city, "grids", G2, box(116.406, 39.900, 116.410, 39.910)),
    ]
    assert validate_edits(city, edits) == []


def test_deleting_a_grid_with_micro_grids_names_the_orphans(city):
    problems = validate_edits(city, [Edit("grids", "delete", G1)])
    orphans = [p for p in problems if p.kind == "orphans"]
    assert orphans and COMMUNITY_A + "00101" in orphans[0].details["children"]
    assert "gap" in kinds(problems)


def test_a_new_feature_needs_an_existing_parent(city):
    edit = Edit(
        "compounds",
        "create",
        "110105001009Q001",
        {"name": "新小区", "community_code": "110105001009", "kind": "residential"},
        box(116.401, 39.901, 116.402, 39.902),
    )
    assert "missing_parent" in kinds(validate_edits(city, [edit]))


def test_shrinking_a_grid_under_its_micro_grids_reports_them(city):
    edits = [
        _replace(city, "grids", G1, box(116.400, 39.900, 116.404, 39.910)),
        _replace(city, "grids", G2, box(116.404, 39.900, 116.410, 39.910)),
    ]
    problems = validate_edits(city, edits)
    assert kinds(problems) == ["child_outside", "child_outside"]


def test_an_unknown_code_in_an_update_is_one_problem(city):
    edit = Edit(
        "grids",
        "replace",
        COMMUNITY_A + "099",
        {"name": "x", "community_code": COMMUNITY_A},
        box(116.400, 39.900, 116.401, 39.901),
    )
    problems = validate_edits(city, [edit])
    assert kinds(problems) == ["bad_edit"] and "does not exist" in problems[0].message


def test_growing_a_community_beyond_its_grids_is_a_gap_and_shrinking_it_leaves_children_outside(city):
    from gridgis.sample.tiny import COMMUNITY_B

    grown = _replace(city, "communities", COMMUNITY_A, box(116.400, 39.900, 116.410, 39.912))
    kinds_grown = kinds(validate_edits(city, [grown]))
    assert "gap" in kinds_grown and "outside_parent" in kinds_grown  # beyond the street too
    shrunk = _replace(city, "communities", COMMUNITY_B, box(116.412, 39.900, 116.420, 39.910))
    found = validate_edits(city, [shrunk])
    assert {"child_outside", "gap"} <= set(kinds(found))
    assert any(p.feature == COMMUNITY_B + "Q001" for p in found if p.kind == "child_outside")


def test_a_stale_own_save_is_rebased_and_its_own_newer_values_win():
    from shapely.geometry import box as b

    from gridgis.editing.merge import rebase_own_save

    def entry(version, author, name, households):
        return {
            "version": version,
            "author": author,
            "name": name,
            "properties": {"households": households},
            "geometry": b(0, 0, 1, 1),
            "ended_in": None,
        }

    history = [entry(1, "seed", "甲", 400), entry(2, "王", "乙", 400)]
    fields = ["name", "households"]
    ok = rebase_own_save(history, 1, "王", fields, {"name": "甲", "households": 410, "geometry": b(0, 0, 1, 1)})
    assert ok is not None and ok[0]["name"] == "乙" and ok[0]["households"] == 410 and ok[1] == 2
    assert (
        rebase_own_save(history, 1, "李", fields, {"name": "甲", "households": 410, "geometry": b(0, 0, 1, 1)}) is None
    )
    # the planner renames again from the copy QGIS still holds: their newer value wins, no 412
    again = rebase_own_save(history, 1, "王", fields, {"name": "丙", "households": 400, "geometry": b(0, 0, 1, 1)})
    assert again is not None and again[0]["name"] == "丙" and again[0]["households"] == 400


def test_a_sub_millimetre_spike_is_refused_as_gridgis_check_flags_it(city):
    """The commit check refuses what `gridgis check` flags: a 0.2 mm spike of G1 into G2 (no area to speak of)."""
    from gridgis.editing.changes import apply_edits
    from gridgis.layers.hierarchy import check_city

    spiked = Polygon(
        [
            (116.400, 39.900),
            (116.405, 39.900),
            (116.405, 39.905),
            (116.405000002, 39.905),
            (116.405, 39.9050001),
            (116.405, 39.910),
            (116.400, 39.910),
        ]
    )
    edits = [_replace(city, "grids", G1, spiked)]
    after = {k: v.reset_index(drop=True) for k, v in apply_edits(city, edits).items()}
    flagged = {p.details["code"] for p in check_city(after).problems if p.kind == "coverage_edge"}
    assert G1 in flagged
    problems = validate_edits(city, edits)
    assert "coverage_edge" in kinds(problems)
    edge = next(p for p in problems if p.kind == "coverage_edge")
    assert edge.feature == G1 and edge.layer == "grids"
    assert 116.40499 < edge.where[0] < 116.40501


def test_an_edit_elsewhere_is_not_blamed_for_an_existing_mismatch(city):
    """A family already holding a mismatched edge: an edit that does not touch it is not refused for it."""
    bent = Polygon([(116.405, 39.900), (116.410, 39.900), (116.410, 39.910), (116.405, 39.910), (116.405, 39.907)])
    city["grids"].loc[city["grids"]["code"] == G2, "geometry"] = bent
    assert validate_edits(city, [_replace(city, "grids", G2, name="改名")]) == []
