"""``read_layer(code_prefixes=…)``: the county (street, community …) filter in the store's query gives
exactly what reading the whole layer and filtering it in Python gives (both backends)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgis.codes import under_prefixes
from gridgis.errors import CodeError
from gridgis.io import read_city
from gridgis.layers import LAYERS
from gridgis.scale.province import county_codes, replicate
from gridgis.storage.model import FeatureChange

COUNTIES = county_codes(3)  # 310115, 310215, 310315


@pytest.fixture(scope="module")
def province(sample_dir):
    city = {k: v for k, v in read_city(sample_dir).items() if k != "tickets"}
    return replicate(city, COUNTIES)


def _same(got, want) -> None:
    assert got["code"].tolist() == want["code"].tolist()
    assert list(got.columns) == list(want.columns)
    assert shapely.equals_exact(np.asarray(got.geometry.values), np.asarray(want.geometry.values), 0).all()
    for col in got.columns:
        if col != got.geometry.name:
            assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), col


PREFIX_SETS = [
    [COUNTIES[0]],
    [COUNTIES[0], COUNTIES[2]],
    [COUNTIES[1] + "005"],  # one street (9 digits)
    [COUNTIES[2], COUNTIES[0] + "005039"],  # a county and a community of another: lengths mixed
    [COUNTIES[1] + "005039Q0"],  # compounds (and their buildings) by the start of a compound code
    ["999999"],  # no such county
    [],  # nothing
]


def test_filtered_reads_equal_read_then_filter_for_every_layer(repository, province):
    g1 = repository.write_city(province, author="测试", message="三个区县")
    for prefixes in PREFIX_SETS:
        for layer in LAYERS:
            whole = repository.read_layer(layer)
            want = whole[under_prefixes(whole["code"], prefixes)].reset_index(drop=True)
            got = repository.read_layer(layer, code_prefixes=prefixes)
            _same(got, want)
            assert repository.count(layer, code_prefixes=prefixes) == len(want)
    assert len(repository.read_layer("grids", code_prefixes=[COUNTIES[0]])) * 3 == len(repository.read_layer("grids"))
    # an older generation, after one county's grid moved on: as of g1 the filter sees g1's rows
    grid = repository.read_layer("grids", code_prefixes=[COUNTIES[1]]).iloc[0]
    repository.apply_changes(
        [FeatureChange(layer="grids", code=grid["code"], op="replace", properties={"name": "改名网格"})],
        author="测试",
    )
    for generation in (g1.id, None):
        whole = repository.read_layer("grids", generation=generation)
        want = whole[under_prefixes(whole["code"], [COUNTIES[1]])].reset_index(drop=True)
        _same(repository.read_layer("grids", generation=generation, code_prefixes=[COUNTIES[1]]), want)
    assert "改名网格" in repository.read_layer("grids", code_prefixes=[COUNTIES[1]])["name"].tolist()
    assert (
        "改名网格" not in repository.read_layer("grids", generation=g1.id, code_prefixes=[COUNTIES[1]])["name"].tolist()
    )


@pytest.mark.parametrize("bad", ["", "31011%", "3101_5", "310115 ", 310115])
def test_a_prefix_that_is_not_the_start_of_a_code_is_a_clear_error(repository, bad):
    with pytest.raises(CodeError, match="code prefix"):
        repository.read_layer("grids", code_prefixes=[bad])


def test_prefixes_ending_in_nines_and_of_any_length(repository, sample_dir):
    """The index bounds carry over 9s (310119 → below 31012; 999999 has no upper bound): still exactly the rule."""
    city = {k: v for k, v in read_city(sample_dir, layers=("streets", "communities", "grids")).items()}
    repository.write_city(replicate(city, ["310119", "310120", "999999"]), author="测试")
    for prefixes in (["310119"], ["31011"], ["3101"], ["999999"], ["9"], ["99999900"], ["310120", "9999"]):
        for layer in ("streets", "communities", "grids"):
            whole = repository.read_layer(layer)
            want = whole[under_prefixes(whole["code"], prefixes)].reset_index(drop=True)
            _same(repository.read_layer(layer, code_prefixes=prefixes), want)
            assert len(want), (layer, prefixes)
