"""Code rules for every layer.

The administrative codes follow the 12-digit statistical division code
(6-digit county + 3-digit street + 3-digit community). Grids and micro-grids extend
their parent's code; compounds, buildings and stations use a letter separator so
that they can never be mistaken for an administrative or grid code.

========== ============================== ====================== ===================
layer      pattern                        example                parent
========== ============================== ====================== ===================
street     county(6) street(3) ``000``    ``110105001000``       —
community  county(6) street(3) comm(3)    ``110105001001``       street ``…000``
grid       community(12) seq(3)           ``110105001001003``    community ``[:12]``
micro_grid grid(15) seq(2)                ``11010500100100301``  grid ``[:15]``
compound   community(12) ``Q`` seq(3)     ``110105001001Q007``   community ``[:12]``
building   compound(16) ``B`` seq(3)      ``110105001001Q007B012`` compound ``[:16]``
station    area(12) ``S`` seq(3)          ``110105001001S002``   street/community
========== ============================== ====================== ===================

A building outside every compound uses the placeholder compound ``Q000``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from gridgis.errors import CodeError

_PATTERNS: dict[str, re.Pattern[str]] = {
    "streets": re.compile(r"^\d{9}000$"),
    "communities": re.compile(r"^\d{12}$"),
    "grids": re.compile(r"^\d{15}$"),
    "micro_grids": re.compile(r"^\d{17}$"),
    "compounds": re.compile(r"^\d{12}Q\d{3}$"),
    "buildings": re.compile(r"^\d{12}Q\d{3}B\d{3}$"),
    "stations": re.compile(r"^\d{12}S\d{3}$"),
}

_DESCRIPTIONS: dict[str, str] = {
    "streets": "12 digits ending in 000 (county 6 + street 3 + 000)",
    "communities": "12 digits (county 6 + street 3 + community 3, community part not 000)",
    "grids": "15 digits (community code + 3-digit sequence)",
    "micro_grids": "17 digits (grid code + 2-digit sequence)",
    "compounds": "community code + 'Q' + 3 digits, e.g. 110105001001Q007",
    "buildings": "compound code + 'B' + 3 digits, e.g. 110105001001Q007B012",
    "stations": "street or community code + 'S' + 3 digits, e.g. 110105001001S002",
}

NO_COMPOUND = "Q000"


def is_valid_code(layer: str, code: object) -> bool:
    """Return True when ``code`` follows the rule of ``layer``."""
    if not isinstance(code, str):
        return False
    pattern = _PATTERNS.get(layer)
    if pattern is None:
        raise CodeError(f"unknown layer {layer!r}; expected one of {sorted(_PATTERNS)}")
    if not pattern.match(code):
        return False
    if layer == "communities" and code.endswith("000"):
        return False
    return not (layer in ("streets", "communities") and street_part(code) == "000")


def valid_code_mask(layer: str, values: np.ndarray) -> np.ndarray:
    """:func:`is_valid_code` for a whole column at once (a boolean array).

    >>> valid_code_mask("communities", np.array(["110105001001", "110105001000", None], dtype=object)).tolist()
    [True, False, False]
    """
    pattern = _PATTERNS.get(layer)
    if pattern is None:  # unknown layer: is_valid_code raises its CodeError
        return np.array([is_valid_code(layer, v) for v in values], dtype=bool)
    is_text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    good = np.zeros(len(values), dtype=bool)
    if not is_text.any():
        return good
    text = pd.Series(values[is_text], dtype=object)
    ok = text.str.match(pattern.pattern, na=False)
    if layer == "communities":
        ok &= ~text.str.endswith("000", na=False)
    if layer in ("streets", "communities"):
        ok &= text.map(street_part) != "000"
    good[is_text] = ok.to_numpy(dtype=bool)
    return good


def check_code(layer: str, code: object) -> str:
    """Return ``code`` when valid, else raise :class:`CodeError` saying what is expected."""
    if not is_valid_code(layer, code):
        raise CodeError(f"{layer} code {code!r} is not valid: expected {_DESCRIPTIONS[layer]}")
    return str(code)


def parent_code(layer: str, code: str) -> str | None:
    """The code of the parent implied by ``code`` (``None`` for streets).

    Stations and buildings outside compounds point at an area code; compounds,
    grids and communities point at the community or street that prefixes them.

    >>> parent_code("grids", "110105001001003")
    '110105001001'
    >>> parent_code("communities", "110105001001")
    '110105001000'
    """
    check_code(layer, code)
    if layer == "streets":
        return None
    if layer == "communities":
        return street_of(code)
    if layer in ("grids", "compounds", "stations"):
        return area_of(code)
    if layer == "micro_grids":
        return grid_of(code)
    if layer == "buildings":
        return compound_of(code) or area_of(code)
    raise CodeError(f"unknown layer {layer!r}")


def county_of(code: str) -> str:
    """The 6-digit county code (县/区) that any gridgis code lies under (a county code is its own).

    >>> county_of("11010500100100301"), county_of("110105001001Q007B012"), county_of("110105")
    ('110105', '110105', '110105')
    """
    if not isinstance(code, str) or not (len(code) == 6 or len(code) >= 12) or not code[:6].isdigit():
        raise CodeError(
            f"code {code!r} has no county: expected a county code (6 digits) or a code of 12 or more "
            "characters whose first 6 are digits"
        )
    return code[:6]


#: what a code prefix may hold: the characters of codes (digits and the separators Q, B, S)
_PREFIX = re.compile(r"^[0-9QBS]+$")


def prefix_groups(prefixes: Iterable[object]) -> dict[int, frozenset[str]]:
    """Code prefixes (a county ``310115``, a street ``310115005``, …) grouped by length.

    The one rule of "a code lies under a prefix" — codes are hierarchical, so a feature lies
    under a county, street or community when its code starts with that code's own digits: the
    first ``n`` characters of the code are one of the prefixes of length ``n``. :func:`under_prefixes`
    applies it in Python, ``Repository.read_layer(code_prefixes=…)`` in SQL
    (``substr(code, 1, n) IN (…)``, :func:`gridgis.storage.queries.prefix_condition`). A routing
    pool's counties (:func:`gridgis.routing.county.filter_counties`) are such prefixes.

    >>> {n: sorted(codes) for n, codes in prefix_groups(["310115", "310215", "310115005"]).items()}
    {6: ['310115', '310215'], 9: ['310115005']}
    """
    groups: dict[int, set[str]] = {}
    for p in prefixes:
        if not isinstance(p, str) or not _PREFIX.match(p):
            raise CodeError(f"code prefix {p!r} is not valid: expected the start of a code (digits, Q, B, S)")
        groups.setdefault(len(p), set()).add(p)
    return {n: frozenset(group) for n, group in sorted(groups.items())}


def under_prefixes(codes: Iterable[object], prefixes: Iterable[object]) -> np.ndarray:
    """A boolean mask: which ``codes`` start with one of ``prefixes`` (:func:`prefix_groups`'s rule;
    anything that is not text is False).

    >>> under_prefixes(["31011500100100301", "310215001001", None, "3101"], ["310115"]).tolist()
    [True, False, False, False]
    """
    groups = prefix_groups(prefixes).items()
    return np.fromiter((isinstance(c, str) and any(c[:n] in group for n, group in groups) for c in codes), dtype=bool)


def check_county(county: object) -> str:
    """Return ``county`` when it is a 6-digit county code, else raise :class:`CodeError`."""
    if not isinstance(county, str) or len(county) != 6 or not county.isdigit():
        raise CodeError(f"county code {county!r} is not valid: expected 6 digits, the first 6 of every code")
    return county


def with_county(code: str, county: str) -> str:
    """``code`` moved under another county (the same street, community, grid … numbers).

    >>> with_county("310115001001003", "310215")
    '310215001001003'
    """
    county_of(code)
    return check_county(county) + code[6:]


def street_prefix(code: str) -> str:
    """The 9 digits (county + street) shared by every code under one street.

    Communities of one street are siblings by this key; a street code is this
    prefix plus ``000``.

    >>> street_prefix("110105001000"), street_prefix("11010500100100301")
    ('110105001', '110105001')
    """
    return code[:9]


def street_part(code: str) -> str:
    """The 3-digit street number within its county (digits 7–9).

    >>> street_part("110105002003")
    '002'
    """
    return code[6:9]


def community_part(code: str) -> str:
    """The 3-digit community number within its street (digits 10–12; ``000`` for a street).

    >>> community_part("110105002003"), community_part("110105002000S001")
    ('003', '000')
    """
    return code[9:12]


def is_street_code(code: str) -> bool:
    """True for a 12-digit code whose community part is ``000`` (a street, not a community).

    >>> is_street_code("110105001000"), is_street_code("110105001001"), is_street_code("110105001000S001")
    (True, False, False)
    """
    return len(code) == 12 and code.endswith("000")


def area_prefix(area: str) -> str:
    """The prefix every code inside ``area`` starts with.

    A street's codes share its first 9 digits (its communities differ in the last
    three); any other code is the prefix of its own descendants.

    >>> area_prefix("110105001000"), area_prefix("110105001001"), area_prefix("110105001001003")
    ('110105001', '110105001001', '110105001001003')
    """
    return street_prefix(area) if is_street_code(area) else area


def lies_in(code: str, area: str) -> bool:
    """True when ``code`` is ``area`` or lies inside it (the one containment rule for codes).

    >>> lies_in("110105001002Q001B003", "110105001000"), lies_in("110105001002003", "110105001001")
    (True, False)
    """
    return code.startswith(area_prefix(area))


def street_of(code: str) -> str:
    """The 12-digit street code that any gridgis code (except a station's area) lies under.

    >>> street_of("11010500100100301"), street_of("110105001001Q007B012")
    ('110105001000', '110105001000')
    """
    return street_prefix(code) + "000"


def community_of(code: str) -> str | None:
    """The 12-digit community code that ``code`` lies under, or None for a street.

    >>> community_of("110105001001003"), community_of("110105001000S001")
    ('110105001001', None)
    """
    head = area_of(code)
    return None if head.endswith("000") else head


def area_of(code: str) -> str:
    """The 12-digit street or community code that prefixes ``code``.

    Unlike :func:`community_of` it never answers None: a station's area may be a street.

    >>> area_of("110105001001Q007B012"), area_of("110105001000S002")
    ('110105001001', '110105001000')
    """
    return code[:12]


def grid_of(code: str) -> str:
    """The 15-digit grid code of a grid or micro-grid code.

    >>> grid_of("11010500100100301"), grid_of("110105001001003")
    ('110105001001003', '110105001001003')
    """
    return code[:15]


def grid_seq(code: str) -> int:
    """The sequence number of a grid within its community (digits 13–15 of a grid or micro-grid code).

    >>> grid_seq("110105001001003"), grid_seq("11010500100101201")
    (3, 12)
    """
    return int(code[12:15])


def micro_grid_seq(code: str) -> int:
    """The sequence number of a micro-grid within its grid (the last 2 digits of its 17).

    >>> micro_grid_seq("11010500100100307")
    7
    """
    return int(code[15:17])


def compound_of(code: str) -> str | None:
    """The compound code of a compound or building code; None for a building outside every compound.

    >>> compound_of("110105001001Q007B012"), compound_of("110105001001Q000B003")
    ('110105001001Q007', None)
    """
    head = code[:16]
    return None if head[12:] == NO_COMPOUND else head


def child_code(parent: str, layer: str, seq: int) -> str:
    """Build the code of the ``seq``-th child of ``parent`` in ``layer``.

    >>> child_code("110105001001", "grids", 3)
    '110105001001003'
    >>> child_code("110105001001003", "micro_grids", 12)
    '11010500100100312'
    """
    widths = {
        "grids": ("", 3),
        "micro_grids": ("", 2),
        "compounds": ("Q", 3),
        "buildings": ("B", 3),
        "stations": ("S", 3),
        "communities": ("", 3),
    }
    if layer not in widths:
        raise CodeError(f"layer {layer!r} has no child code rule")
    sep, width = widths[layer]
    if not 1 <= seq < 10**width:
        raise CodeError(f"sequence {seq} does not fit {width} digits for {layer} under {parent}")
    if layer == "communities":
        return street_prefix(parent) + f"{seq:03d}"
    return check_code(layer, f"{parent}{sep}{seq:0{width}d}")
