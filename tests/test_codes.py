"""The code rules of every layer, parents and children."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from gridgis import codes
from gridgis.auth import tokens
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


def test_helpers_name_each_part_of_a_code():
    building, station = "110105002003Q007B012", "110105002000S001"
    assert codes.county_of(building) == "110105"
    assert codes.street_prefix(building) == "110105002"
    assert codes.street_part(building) == "002"
    assert codes.community_part(building) == "003"
    assert codes.area_of(station) == "110105002000"
    assert codes.grid_seq("110105002003012") == 12
    assert codes.micro_grid_seq("11010500200301207") == 7
    assert codes.compound_of(building) == "110105002003Q007"
    assert codes.compound_of("110105002003Q000B001") is None
    assert codes.is_street_code("110105002000") and not codes.is_street_code("110105002003")


@pytest.mark.parametrize(
    ("code", "area", "inside"),
    [
        ("110105001002Q001B003", "110105001000", True),  # a street holds its communities' codes
        ("110105001000S001", "110105001000", True),
        ("110105002001003", "110105001000", False),
        ("110105001002003", "110105001001", False),
        ("11010500100100301", "110105001001003", True),
        ("110105001001", "110105001001", True),
    ],
)
def test_lies_in_is_the_one_containment_rule(code, area, inside):
    assert codes.lies_in(code, area) is inside
    assert tokens.scope_covers(area, code) is inside  # a token's scope uses the same rule


# Slices with these bounds are code structure (county 6, street 9, area 12, Q/S 13, grid 15,
# compound 16, micro-grid 17 characters; the last 2 or 3 digits are a sequence).
CODE_BOUNDS = {6, 9, 12, 13, 15, 16, 17, -2, -3}
# Slices with such bounds that are not codes, each with the reason.
NOT_CODES = {
    ("gridgis/people/store.py", "hexdigest()[:12]"): "a hash prefix",
    ("gridgis/routing/index.py", "grid_row(g)[:6]"): "the first six fields of a row tuple",
    ("gridgis/routing/index.py", "row[:6]"): "the first six fields of a row tuple",
}
PACKAGE = Path(codes.__file__).parent


def _bound(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return -node.operand.value
    return None


def _hand_sliced_codes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "codes.py":
            continue
        rel = path.relative_to(PACKAGE.parent).as_posix()
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            bounds: tuple[int | None, ...] = ()
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
                bounds = (_bound(node.slice.lower), _bound(node.slice.upper))
            elif (  # pandas: series.str.slice(6, 9)
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "slice"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "str"
            ):
                bounds = tuple(_bound(a) for a in node.args)
            if not CODE_BOUNDS.intersection(b for b in bounds if b is not None):
                continue
            text = ast.get_source_segment(source, node) or ""
            if any(rel == where and text.endswith(tail) for where, tail in NOT_CODES):
                continue
            found.append(f"{rel}:{node.lineno}: {text}")
    return sorted(found)


def test_codes_are_sliced_only_in_codes_py():
    """One rule, one place: code structure is read through the helpers of gridgis.codes."""
    assert _hand_sliced_codes() == [], "use a gridgis.codes helper (add one there if none fits)"


def test_the_scan_finds_a_hand_sliced_code(tmp_path, monkeypatch):
    (tmp_path / "gridgis").mkdir()
    (tmp_path / "gridgis" / "codes.py").write_text("")
    (tmp_path / "gridgis" / "bad.py").write_text('street = code[:9] + "000"\nok = names[:20]\nx = s.str.slice(6, 9)\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "gridgis")
    assert _hand_sliced_codes() == ["gridgis/bad.py:1: code[:9]", "gridgis/bad.py:3: s.str.slice(6, 9)"]
