"""The field suite in CI: real outlines, independently drawn grids, every invariant of issue 11.

Each case comes from :func:`tests.alignment.fieldsuite.make_case` (deterministic by seed); CI runs
small cases (at most 10 compounds) so the whole file stays around a minute; ``python -m bench
--only field`` runs 500 full-size cases.
"""

from __future__ import annotations

import pytest

from gridgis.alignment.propose import propose_alignment
from tests.alignment.fieldsuite import SHARED_DATA, check_case, make_case

pytestmark = pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data is not present")

CI_SEEDS = list(range(1000, 1040))


@pytest.mark.slow
@pytest.mark.parametrize("seed", CI_SEEDS)
def test_field_case_keeps_every_invariant(seed):
    case = make_case(seed, max_compounds=10, max_half_m=380.0)
    result = check_case(case)
    assert result["failures"] == [], (case.meta, result["failures"])


def test_a_grid_created_by_a_split_and_merged_away_later_does_not_crash():
    # seed 109: Shenzhen outlines, grids from random cuts, no buildings; the split step creates
    # 110105001002015 and a later merge removes it (KeyError in propose_alignment before the fix)
    case = make_case(109, max_compounds=25)
    prop = propose_alignment(case.compounds, case.grids, case.buildings, case.communities, workers=1)
    created = {r["new_grid"] for r in prop.restructured if r["op"] == "split"}
    assert "110105001002015" in created and "110105001002015" not in set(prop.grids["code"])
    assert prop.coverage_after.ok
    assert check_case(case, reshuffle=False)["failures"] == []


def test_a_grid_split_twice_gets_one_row_per_part():
    case = make_case(105, max_compounds=25)
    prop = propose_alignment(case.compounds, case.grids, case.buildings, case.communities, workers=1)
    splits = [r for r in prop.restructured if r["op"] == "split"]
    assert [r["grid"] for r in splits].count("110105001001010") >= 2
    assert prop.grids["code"].is_unique
    assert set(prop.grids["code"]) >= {r["new_grid"] for r in splits} - {
        r["grid"] for r in prop.restructured if r["op"] == "merge"
    }
    assert prop.coverage_after.ok
