"""Every docstring example of every gridgis module runs and gives what it shows.

Examples are counted: a module whose examples are skipped (``+SKIP``) or not collected fails, and
the total guards against a finder that silently collects nothing. (Asserting only ``failed == 0``
let ~100 of 129 examples go unrun: it holds for a module that runs none.)
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gridgis

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: modules that are not importable as libraries: entry points and alembic's migration scripts
NOT_LIBRARY = ("__main__", ".migrations")


def _modules() -> list[str]:
    names = (m.name for m in pkgutil.walk_packages(gridgis.__path__, "gridgis."))
    return sorted(n for n in names if not any(part in n for part in NOT_LIBRARY))


def _tests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]


MODULES = _modules()
WITH_EXAMPLES = [name for name in MODULES if _tests(name)]


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_every_example_of_the_module_runs_and_holds(name):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    examples = 0
    for test in _tests(name):
        examples += len(test.examples)
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {examples} examples failed (see the output above)"
    assert result.attempted == examples, f"{name}: only {result.attempted} of {examples} examples ran (+SKIP?)"


def test_the_examples_are_found_in_every_area():
    areas = {name.split(".")[1] for name in WITH_EXAMPLES}
    assert {"alignment", "api", "codes", "crs", "io", "layers", "maps", "routing", "storage", "tickets"} <= areas
    total = sum(len(t.examples) for name in WITH_EXAMPLES for t in _tests(name))
    assert total >= 130, total
