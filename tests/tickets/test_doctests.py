"""The examples in the ticket modules' docstrings run and hold."""

from __future__ import annotations

import doctest

import pytest

from gridgis.tickets import calendar, catalogue


@pytest.mark.parametrize("module", [calendar, catalogue], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
