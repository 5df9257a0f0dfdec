"""Planner operations keep the coverage valid by construction."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from gridgis import codes
from gridgis.editing.changes import Edit
from gridgis.editing.follow import with_micro_grids
from gridgis.editing.operations import (
    apply_proposal,
    merge_grids,
    move_boundary,
    split_grid,
    transfer_buildings,
    transfer_compound,
)
from gridgis.editing.validate import validate_edits
from gridgis.errors import ValidationError
from gridgis.sample.tiny import COMMUNITY_A, COMMUNITY_B, tiny_city

G1, G2 = COMMUNITY_A + "001", COMMUNITY_A + "002"
CITY = tiny_city()


def _valid(edits: list[Edit]) -> None:
    assert validate_edits(CITY, edits) == []


def _follow(edits: list[Edit]) -> list[Edit]:
    """The operation's edits plus the micro-grid edits of the live path (what the API and CLI store)."""
    return with_micro_grids(edits, CITY["grids"], CITY["micro_grids"], CITY["buildings"])


@settings(max_examples=15, deadline=None)
@given(x=st.floats(min_value=116.4012, max_value=116.4095))
def test_moving_a_shared_boundary_anywhere_keeps_the_coverage_and_households(x):
    edits = _follow(move_boundary(CITY["grids"], G1, G2, box(116.400, 39.900, x, 39.910)))
    _valid(edits)
    grids = {e.code: e for e in edits if e.layer == "grids"}
    union = shapely.union(grids[G1].geometry, grids[G2].geometry)
    assert shapely.symmetric_difference(union, box(116.400, 39.900, 116.410, 39.910)).area < 1e-12
    assert grids[G1].properties["households"] + grids[G2].properties["households"] == 800


def test_move_boundary_refuses_to_take_area_from_a_third_grid():
    with pytest.raises(ValidationError, match="outside"):
        move_boundary(CITY["grids"], G1, G2, box(116.400, 39.900, 116.412, 39.910))


def test_transfer_compound_hands_its_area_and_households_to_the_neighbour():
    edits = transfer_compound(CITY["grids"], CITY["compounds"], COMMUNITY_A + "Q002", G1)
    _valid(edits)
    by = {e.code: e for e in edits}
    assert by[G1].properties["households"] == 550 and by[G2].properties["households"] == 250
    assert by[G1].geometry.covers(CITY["compounds"].set_index("code").loc[COMMUNITY_A + "Q002"].geometry)


def test_transfer_to_a_grid_of_another_community_is_refused():
    with pytest.raises(ValidationError, match="community"):
        transfer_compound(CITY["grids"], CITY["compounds"], COMMUNITY_A + "Q002", COMMUNITY_B + "001")


def test_transfer_buildings_to_a_grid_that_does_not_border_them_is_refused():
    with pytest.raises(ValidationError, match="does not border"):
        transfer_buildings(CITY["grids"], CITY["buildings"], [COMMUNITY_A + "Q002B001"], G1)


def test_split_then_validate_is_clean_and_the_new_grid_gets_a_free_code():
    edits = split_grid(CITY["grids"], G2, LineString([(116.404, 39.905), (116.411, 39.905)]), new_name="新网格")
    _valid(edits)
    assert [(e.op, e.code) for e in edits[:2]] == [("replace", G2), ("create", COMMUNITY_A + "003")]
    assert sum(e.properties["households"] for e in edits[:2]) == 400


def test_a_split_gives_the_untouched_neighbour_the_cut_s_end_vertex_so_the_coverage_stays_edge_matched():
    edits = split_grid(CITY["grids"], G1, LineString([(116.399, 39.904), (116.406, 39.904)]))
    by = {e.code: e for e in edits}
    assert by[G2].op == "replace" and by[G2].properties["households"] == 400  # only its outline gains a vertex
    assert by[G2].expected_version is None or by[G2].expected_version >= 1
    after = [e.geometry for e in edits] + [
        g for c, g in zip(CITY["grids"]["code"], CITY["grids"].geometry) if c not in by and c[:12] == COMMUNITY_A
    ]
    assert shapely.coverage_is_valid(after)
    assert shapely.equals(by[G2].geometry, CITY["grids"].set_index("code").loc[G2].geometry)


def test_moving_a_boundary_keeps_an_edge_matched_coverage_and_pins_every_edit_to_its_version():
    grids = CITY["grids"].assign(version=1)
    edits = move_boundary(
        grids, G1, G2, box(116.400, 39.900, 116.405, 39.905).union(box(116.400, 39.900, 116.404, 39.910))
    )
    third = [e for e in edits if e.code not in (G1, G2)]
    after = [e.geometry for e in edits] + [
        g for c, g in zip(grids["code"], grids.geometry) if c not in {e.code for e in edits} and c[:12] == COMMUNITY_A
    ]
    assert shapely.coverage_is_valid(after)
    assert all(e.expected_version == 1 for e in edits)
    assert third == [] or all(shapely.equals(e.geometry, grids.set_index("code").loc[e.code].geometry) for e in third)


def test_a_line_that_does_not_cross_the_grid_cannot_split_it():
    with pytest.raises(ValidationError, match="part"):
        split_grid(CITY["grids"], G2, LineString([(116.406, 39.905), (116.407, 39.905)]))


def test_merge_keeps_the_first_code_and_sums_households():
    edits = _follow(merge_grids(CITY["grids"], [G1, G2]))
    _valid(edits)
    assert edits[0].properties["households"] == 800


def test_merging_grids_of_two_communities_is_refused():
    with pytest.raises(ValidationError, match="different communities"):
        merge_grids(CITY["grids"], [G2, COMMUNITY_B + "001"])


def test_apply_proposal_replaces_creates_and_deletes_to_match():
    proposal = CITY["grids"][CITY["grids"]["code"].str.startswith(COMMUNITY_A)].copy()
    proposal = proposal[proposal["code"] == G2].copy()
    proposal.loc[:, "geometry"] = [box(116.400, 39.900, 116.410, 39.910)]
    proposal.loc[:, "code"] = [COMMUNITY_A + "005"]
    edits = apply_proposal(CITY["grids"], proposal, COMMUNITY_A)
    assert sorted((e.op, e.code) for e in edits) == [("create", COMMUNITY_A + "005"), ("delete", G1), ("delete", G2)]


def _tiles(edits: list[Edit], grid_code: str) -> None:
    """The micro-grids of ``grid_code`` after ``edits`` cover it exactly, edge to edge, and their
    households add up to the grid's."""
    grid = next(e for e in edits if e.layer == "grids" and e.code == grid_code)
    micro = {str(r["code"]): (r.geometry, r["households"]) for _, r in CITY["micro_grids"].iterrows()}
    for e in edits:
        if e.layer == "micro_grids":
            micro[e.code] = (None, 0) if e.op == "delete" else (e.geometry, e.properties["households"])
    mine = [(g, h) for c, (g, h) in micro.items() if g is not None and codes.grid_of(c) == grid_code]
    assert mine, f"{grid_code} has no micro-grids left"
    assert shapely.coverage_is_valid([g for g, _ in mine])
    assert shapely.symmetric_difference(shapely.union_all([g for g, _ in mine]), grid.geometry).area < 1e-12
    assert sum(h for _, h in mine) == grid.properties["households"]


@settings(max_examples=10, deadline=None)
@given(x=st.floats(min_value=116.4052, max_value=116.4095))
def test_a_grid_that_grows_gives_the_new_area_to_its_micro_grids(x):
    edits = _follow(move_boundary(CITY["grids"], G1, G2, box(116.400, 39.900, x, 39.910)))
    _valid(edits)
    _tiles(edits, G1)
    kept = {e.code for e in edits if e.layer == "micro_grids" and e.op == "replace"}
    assert {G1 + "01", G1 + "02"} <= kept  # the grid's micro-grids keep their codes, pinned to their versions


def test_a_grid_that_shrinks_keeps_micro_grids_that_tile_it():
    edits = _follow(move_boundary(CITY["grids"], G1, G2, box(116.400, 39.900, 116.403, 39.910)))
    _valid(edits)
    _tiles(edits, G1)


def test_merging_re_splits_the_survivor_and_retires_the_merged_away_grids_micro_grids():
    edits = _follow(merge_grids(CITY["grids"], [G2, G1]))
    _valid(edits)
    _tiles(edits, G2)
    micro = [e for e in edits if e.layer == "micro_grids"]
    assert sorted(e.code for e in micro if e.op == "delete") == [G1 + "01", G1 + "02"]
    moved = [e for e in micro if e.op == "create"]
    assert moved and all(codes.grid_of(e.code) == G2 and e.properties["grid_code"] == G2 for e in moved)


def test_micro_grids_of_two_neighbouring_grids_are_not_siblings():
    micro = CITY["micro_grids"].copy()
    micro.loc[micro.index[1], "code"] = G2 + "01"  # same first 14 digits as G1's 01, another grid
    with pytest.raises(ValidationError, match="one parent"):
        move_boundary(micro, G1 + "01", G2 + "01", box(116.400, 39.900, 116.403, 39.910), layer="micro_grids")


def _with_compound(geometry) -> dict:
    city = {k: v.copy() for k, v in CITY.items()}
    row = city["compounds"].iloc[[0]].copy()
    row["code"], row["name"], row["households"] = COMMUNITY_A + "Q009", "横穿小区", 40
    row = row.set_geometry([geometry])
    city["compounds"] = type(city["compounds"])(
        __import__("pandas").concat([city["compounds"], row], ignore_index=True), crs=city["compounds"].crs
    )
    return city


def test_transferring_a_compound_that_spans_the_donor_is_refused_as_it_would_cut_the_donor_in_two():
    city = _with_compound(box(116.405, 39.904, 116.410, 39.905))  # G2's whole width
    edits = transfer_compound(city["grids"], city["compounds"], COMMUNITY_A + "Q009", G1)
    found = [(p.kind, p.feature) for p in validate_edits(city, edits)]
    assert ("disconnected", G2) in found


def test_a_grid_already_in_two_parts_may_still_be_edited_and_an_island_part_is_no_defect():
    two = shapely.MultiPolygon([box(116.405, 39.900, 116.410, 39.904), box(116.405, 39.905, 116.410, 39.910)])
    one = shapely.union(box(116.400, 39.900, 116.405, 39.910), box(116.405, 39.904, 116.410, 39.905))
    grids = CITY["grids"].set_index("code", drop=False)
    grids.loc[G2, "geometry"], grids.loc[G1, "geometry"] = two, one
    city = {**CITY, "grids": grids.reset_index(drop=True)}
    row = city["grids"].set_index("code").loc[G2]
    rename = Edit("grids", "replace", G2, {**{k: row[k] for k in ("name", "community_code")}, "households": 400}, two)
    assert not [p for p in validate_edits(city, [rename]) if p.kind == "disconnected"]
    from gridgis.layers.coverage import detached_parts

    # the smaller part borders no sibling (only the parent's edge): an island, not detached
    assert detached_parts(two, [box(116.400, 39.906, 116.405, 39.910)]) == []
    assert len(detached_parts(two, [box(116.400, 39.900, 116.405, 39.903)])) == 1


def test_a_part_bordering_only_a_dedicated_grid_is_an_island_not_a_detached_part():
    """Dedicated grids (专属网格) take no land from their neighbours, as alignment keeps them fixed, so
    a part of a grid bordering only a dedicated grid and the community's edge is an island (what
    alignment explains as 'disconnected'), not refused; with a basic neighbour it is refused."""
    strip = shapely.union(box(116.400, 39.900, 116.405, 39.910), box(116.405, 39.904, 116.410, 39.905))
    grids = CITY["grids"].copy()
    grids.loc[grids["code"] == G1, "kind"] = "dedicated"
    city = {**CITY, "grids": grids}
    edits = move_boundary(grids, G1, G2, strip)
    assert not [p for p in validate_edits(city, edits) if p.kind == "disconnected"]
    basic = [p.feature for p in validate_edits(CITY, move_boundary(CITY["grids"], G1, G2, strip))]
    assert G2 in basic
