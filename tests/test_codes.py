"""The code rules of every layer, parents and children."""

from __future__ import annotations

import pytest

from gridgis import codes
from gridgis.errors import CodeError

VALID = {
    "streets": "110105001000",
    "communities": "110105001001",
    "grids": "110105001001003",
    "micro_grids": "11010500100100301",
    "compounds": "110105001001Q007",
    "buildings": "110105001001Q007B012",
    "stations": "110105001001S002",
}


@pytest.mark.parametrize(("layer", "code"), VALID.items())
def test_documented_examples_are_valid(layer, code):
    assert codes.is_valid_code(layer, code)
    assert codes.check_code(layer, code) == code


@pytest.mark.parametrize(
    ("layer", "code"),
    [
        ("streets", "110105001001"),  # a community code is not a street
        ("streets", "110105000000"),  # the county itself
        ("communities", "110105001000"),  # a street code is not a community
        ("communities", "11010500100"),  # 11 digits
        ("communities", 110105001001),  # a number, not text
        ("grids", "110105001001"),
        ("micro_grids", "110105001001003"),
        ("compounds", "110105001001B007"),
        ("buildings", "110105001001Q007"),
        ("stations", "110105001001Q002"),
    ],
)
def test_codes_breaking_the_rule_are_refused(layer, code):
    assert not codes.is_valid_code(layer, code)
    with pytest.raises(CodeError, match="expected"):
        codes.check_code(layer, code)


def test_unknown_layer_is_a_code_error():
    with pytest.raises(CodeError, match="unknown layer"):
        codes.is_valid_code("parcels", "1")


@pytest.mark.parametrize(
    ("layer", "code", "parent"),
    [
        ("streets", "110105001000", None),
        ("communities", "110105001001", "110105001000"),
        ("grids", "110105001001003", "110105001001"),
        ("micro_grids", "11010500100100301", "110105001001003"),
        ("compounds", "110105001001Q007", "110105001001"),
        ("buildings", "110105001001Q007B012", "110105001001Q007"),
        ("buildings", "110105001001Q000B003", "110105001001"),  # outside every compound
        ("stations", "110105001001S002", "110105001001"),
    ],
)
def test_parent_code(layer, code, parent):
    assert codes.parent_code(layer, code) == parent


def test_child_codes_extend_the_parent():
    assert codes.child_code("110105001001", "grids", 3) == "110105001001003"
    assert codes.child_code("110105001001003", "micro_grids", 12) == "11010500100100312"
    assert codes.child_code("110105001001", "compounds", 7) == "110105001001Q007"
    assert codes.child_code("110105001001Q007", "buildings", 12) == "110105001001Q007B012"
    assert codes.child_code("110105001000", "communities", 5) == "110105001005"
    for layer, parent in (("grids", "110105001001"), ("micro_grids", "110105001001003")):
        code = codes.child_code(parent, layer, 1)
        assert codes.parent_code(layer, code) == parent


@pytest.mark.parametrize(("layer", "seq"), [("grids", 0), ("grids", 1000), ("micro_grids", 100)])
def test_child_sequence_must_fit_its_digits(layer, seq):
    with pytest.raises(CodeError, match="does not fit"):
        codes.child_code("110105001001003"[: 12 if layer == "grids" else 15], layer, seq)


def test_street_and_community_of_any_code():
    assert codes.street_of("110105001001Q007B012") == "110105001000"
    assert codes.community_of("110105001001003") == "110105001001"
    assert codes.community_of("110105001000") is None
