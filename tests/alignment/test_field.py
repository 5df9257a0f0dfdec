"""The field suite in CI: real outlines, independently drawn grids, every invariant of issue 11.

Each case comes from :func:`tests.alignment.fieldsuite.make_case` (deterministic by seed); CI runs
small cases (at most 10 compounds) so the whole file stays around a minute; ``python -m bench
--only field`` runs 500 full-size cases.
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.propose import _with_new_grids, propose_alignment
from tests.alignment.fieldsuite import SHARED_DATA, check_case, make_case, realign_after_geojson

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not present")

CI_SEEDS = list(range(1000, 1040))


@pytest.mark.slow
@pytest.mark.parametrize("seed", CI_SEEDS)
def test_field_case_keeps_every_invariant(seed):
    case = make_case(seed, max_compounds=10, max_half_m=380.0)
    result = check_case(case)
    assert result["failures"] == [], (case.meta, result["failures"])


# full-size seeds that failed ``python -m bench --only field`` (500 cases) and what broke:
# 21, 208, 229: a Voronoi line between two compounds' land, clipped to the land, ended a fraction of
#   a grid cell short of the community line and cut no face; the face spanning two compounds' land
#   was cut by the proposal's own lines and re-aligning moved the piece (4,050 m² in seed 21)
# 339: a grid line read back beside the Voronoi line it was drawn along left a hairline face
#   (0.013 m², 284 m long) labelled with the other compound's land: re-aligning moved it
# 256 (after merging the compactness work): re-aligning made a rebalancing move gaining 0.00001
#   households, the share a hairline face of a compound without buildings carries
# 189, 277: the check counted a compound by its point (189: in the community's hole) and every
#   building city-wide; the proposal counts a compound in the community it overlaps most and a
#   community without buildings by its compounds
# 127, 161, 262 (with the invariant "valid once written", 23 of the 500 failed it): the proposal
#   held notches and teeth a tenth of a millimetre wide (snap-rounding at 0.1 mm), at a junction of
#   three grids too; written with 7 decimals they came back as spikes (127, 262) and a crossing
#   ring (161); proposals now pass through layers.coverage.storable
REGRESSION_SEEDS = [21, 127, 161, 189, 256, 262, 277, 339]

# full-size seeds of 500..1999 (``GRIDGIS_FIELD_CASES=2000``) that failed, by class:
# - households lost without buildings: a sliver compound (its own group, overlapping another by less
#   than the sliver area) shared its households over its outline, but the overlap's faces counted
#   for the other group only (1012: 1 of 1178, 1908: 10 of 5519)
# - re-aligning after a storage round trip: a hairline face inside a compound without buildings
#   carried 0.00005 of its households to the land atom it joined, which rebalancing then moved or
#   no longer crossed as empty land (1014: 3 pieces of 185 households, 1084); and strips of a
#   compound a read-back grid line cut off, labelled after the land beside them, joined a separate
#   piece of land to the compound's atom (550: 22 m², 1118: 57 m²)
# - a merge decided on float noise: 223 + 277 households of shares summed to 500.0000000001 in the
#   first alignment and to 500 once stored, so only re-aligning merged (1936)
# still failing (not in the list): 959, 1469, 1537 (each has a compound drawn twice) — a face pinched by a neck narrower than a storage
#   step (snap-rounding leaves two lines 0.2-2.8 mm apart) comes back as two parts touching at a point
#   and re-aligning moves one; cutting such faces in the partition made other seeds fail (302, 609,
#   714, 728): the necks come and go with the drawn grid lines noded beside them
# - micro-grids losing a building: an aligned grid's line runs a hair beside the micro-grid split's
#   own Voronoi line; a building's face took in the wedge between them, its representative point
#   fell on the line and the face went to the neighbour (899: 30 of 502 households, 1754)
# - a compound drawn twice: the one building rule credits every building to one copy, so the other is
#   "small", and as an atom of its own it took in all the buildings of the large one it copies; one
#   grid of 8,397 households needed 114 micro-grids (534; 709, 1856 alike). Such a copy is now divided
#   with the compound it copies (partition._copy)
# - a grid with a sliver wedge 72 m long and under 2 mm wide (a grid line passing a hair beside a
#   community vertex) crossed itself once written with 7 decimals (501, 1388): the wedge's segment is
#   now made to pass through the vertex and the spike left is removed (layers.coverage._onto_segments)
FIELD_2000_SEEDS = [501, 534, 550, 709, 899, 1012, 1014, 1084, 1118, 1388, 1754, 1856, 1908, 1936]


@pytest.mark.slow
@pytest.mark.parametrize("seed", FIELD_2000_SEEDS)
def test_field_2000_regression_seed(seed):
    result = check_case(make_case(seed))
    assert result["failures"] == [], result["failures"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 8, 72])
def test_micro_grids_need_no_repair_when_written(seed):
    # 79 of the 500 cases split micro-grids that came back invalid once written with 7 decimals: a
    # micro-grid joined through a contact a fraction of a millimetre long (a near-degenerate Voronoi
    # vertex between four buildings) was pinched to a point, and 0.1 mm teeth folded; micro-grids now
    # join buildings as alignment joins atoms (partition._contacts) and pass through
    # layers.coverage.storable (2 of the 500 still need the writer's repair: necks inside one face)
    result = check_case(make_case(seed), reshuffle=False)
    assert result["failures"] == [] and result["micro_repaired"] == 0, result["failures"]


@pytest.mark.parametrize("seed", REGRESSION_SEEDS)
def test_field_regression_seed(seed):
    result = check_case(make_case(seed))
    assert result["failures"] == [], result["failures"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [18, 20, 29, 12, 50, 90, 250, 391])
def test_realigning_grids_read_back_from_geojson_changes_nothing(seed):
    # every export and API answer rounds to 7 decimals: grid lines come back up to ~1 cm beside the
    # compound and Voronoi lines they were drawn along; the centimetre-wide faces between them moved
    # (seed 20: 0.5 m², 0.3 m² … of open land) until hairline faces followed their own grid's neighbour;
    # seed 18: a hairline whose own-grid neighbours were hairlines too took another grid's atom.
    # 23 of 500 full-size cases still moved; now grid vertices within a storage step of a structure
    # line go back onto it and atoms touching along < 4.5 cm are not neighbours:
    # 50: a building region joined its grid through a 0.1 mm edge, pinched to a point once stored;
    #   re-aligning found the grid in two and gave the region away (1,623 m², 13 households)
    # 90: hairlines along a rounded grid line joined two pieces of a compound's atom (9 m² moved)
    # 250: hairlines labelled after their grid's neighbour made building regions neighbours that
    #   were not, so a rebalancing move became feasible (2 pieces, 41 households)
    # 12: a tongue under a storage step wide folded onto the line it was put back on (GEOS raised)
    # 391: GDAL's GeoJSON writer wrote 116.4000009 as 116.4 (8 cm away); gridgis's writer keeps 7 decimals
    case = make_case(seed)
    prop = propose_alignment(case.compounds, case.grids, case.buildings, case.communities, workers=1)
    assert realign_after_geojson(case, prop.grids) == 0


def test_a_grid_created_by_a_split_and_merged_away_later_does_not_crash():
    # seed 109 (Shenzhen outlines, grids from random cuts, no buildings) crashed with KeyError in
    # propose_alignment: the split step created 110105001002015 and a later merge removed it
    case = make_case(109, max_compounds=25)
    config = AlignmentConfig(land_with_compounds=False)
    prop = propose_alignment(case.compounds, case.grids, case.buildings, case.communities, config=config, workers=1)
    assert prop.coverage_after.ok
    assert set(prop.grids["code"]) == set(prop.impact.loc[~prop.impact["removed"], "grid"])


def _grids(codes: list[str]) -> gpd.GeoDataFrame:
    boxes = [shapely.box(116.3 + k * 0.001, 39.9, 116.301 + k * 0.001, 39.901) for k in range(len(codes))]
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"第{k + 1}网格" for k in range(len(codes))], "community_code": "110105001001"},
        geometry=boxes,
        crs="EPSG:4326",
    )


def test_new_grid_rows_follow_split_and_merge_steps_in_any_order():
    grids = _grids(["110105001001001", "110105001001002"])
    steps = [
        {"op": "split", "grid": "110105001001001", "new_grid": "110105001001003", "community_code": "110105001001"},
        {"op": "split", "grid": "110105001001003", "new_grid": "110105001001004", "community_code": "110105001001"},
        {"op": "split", "grid": "110105001001001", "new_grid": "110105001001005", "community_code": "110105001001"},
        {"op": "merge", "grid": "110105001001005", "into": "110105001001002", "community_code": "110105001001"},
    ]
    alive = {"110105001001001", "110105001001002", "110105001001003", "110105001001004"}  # 005 merged away
    out = _with_new_grids(grids.copy(), grids, steps, alive)
    assert out["code"].tolist() == [
        "110105001001001",
        "110105001001002",
        "110105001001003",
        "110105001001004",
    ]
    names = dict(zip(out["code"], out["name"]))
    assert names["110105001001003"] == "第1网格（拆分）"
    assert names["110105001001004"] == "第1网格（拆分）（拆分）"  # a part of a part names its own parent
