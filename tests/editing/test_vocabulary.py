"""One vocabulary for changes: an editing Edit, a storage FeatureChange, the editing answers and
the web editor all say create, replace or delete (OGC API – Features Part 4's words)."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest
from shapely.geometry import box

from gridgis.editing import service
from gridgis.editing.changes import Edit
from gridgis.errors import ValidationError
from gridgis.storage.model import CHANGE_OPS, ChangeOp, FeatureChange
from gridgis.storage.queries import check_changes

PACKAGE = Path(service.__file__).parents[1]


def test_the_vocabulary_is_create_replace_delete_and_both_types_use_it():
    assert CHANGE_OPS == ("create", "replace", "delete")
    assert typing.get_type_hints(FeatureChange)["op"] == ChangeOp
    assert Edit.__annotations__["op"] == "ChangeOp"  # the storage type (imported for type checking only)
    assert typing.get_type_hints(Edit, localns={"ChangeOp": ChangeOp})["op"] == ChangeOp


def test_an_edit_becomes_a_storage_change_with_the_same_op():
    edits = [Edit("grids", op, "110105001001001", {"name": "x"}, box(0, 0, 1, 1)) for op in CHANGE_OPS]
    assert [c.op for c in service.to_changes(edits)] == list(CHANGE_OPS)


def test_storage_refuses_the_other_words_and_names_the_right_ones():
    with pytest.raises(ValidationError) as err:
        check_changes([FeatureChange("grids", "insert", "110105001001001", {}, box(0, 0, 1, 1))])  # type: ignore[arg-type]
    assert "use one of create, replace, delete" in str(err.value.problems[0])


def _literal_ops() -> list[tuple[str, int, str]]:
    """Every string literal the package gives an Edit/FeatureChange op or compares an ``.op`` with."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Edit", "FeatureChange"):
                values = node.args[1:2] + [k.value for k in node.keywords if k.arg == "op"]
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "op":
                values = list(node.comparators)
            found += [
                (path.name, node.lineno, v.value)
                for v in values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            ]
    return found


def test_the_package_speaks_only_the_one_vocabulary():
    ops = _literal_ops()
    assert len(ops) > 20  # the scan sees the operations, validation and storage
    assert [o for o in ops if o[2] not in CHANGE_OPS] == []


def test_the_web_editor_labels_exactly_the_one_vocabulary():
    js = (PACKAGE / "static" / "editor.js").read_text(encoding="utf-8")
    labels = re.search(r"esc\(\{([^}]*)\}\[p\.op\]", js)
    assert labels is not None, "editor.js no longer labels p.op with a literal table"
    assert sorted(re.findall(r'"?(\w+)"?\s*:', labels.group(1))) == sorted(CHANGE_OPS)
    assert set(re.findall(r'\bop:\s*"(\w+)"', js)) <= set(CHANGE_OPS)
