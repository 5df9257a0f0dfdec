"""The vocabulary of the people area: kinds of organisation, person, member, assignment and care.

Every label is the Chinese term of the seed reports; codes are English identifiers. The one rule
for reading a user's category (``类别`` column, API field) is :func:`person_kind_of`.
"""

from __future__ import annotations

from gridgis.errors import ValidationError

#: organisation kinds, top to bottom (the alignment's party tree adds the branch kinds in between)
ORG_KINDS: dict[str, str] = {
    "street_committee": "街道党工委",
    "community_committee": "社区党委",
    "compound_general_branch": "小区党总支",
    "grid_general_branch": "网格党总支",
    "grid_branch": "网格党支部",
    "compound_branch": "小区党支部",
    "compound_group": "小区党小组",
    "merged_branch": "小区(网格)党支部",
    "building_group": "楼栋党小组",
    "central_household": "党员中心户",
    "cobuilding_unit": "共驻共建单位",
}

#: person kinds
PERSON_KINDS: dict[str, str] = {
    "member": "党员",
    "grid_worker": "专职网格员",
    "micro_grid_worker": "微网格员",
    "committee": "两委成员",
    "owners_committee": "业委会成员",
    "property_manager": "物业管理人员",
    "social_worker": "社工",
    "volunteer": "志愿者",
    "cobuilding_contact": "共驻共建单位联络人",
}

#: the four kinds of party member, "one file per kind" (seed 001)
MEMBER_KINDS: dict[str, str] = {
    "direct": "直管党员",
    "mobile": "流动党员",
    "in_service": "在职党员",
    "retired": "离退休党员",
}

#: responsibility levels (包片/包栋/包单元/包户) and the micro-grid post (一微网格一网格员)
LEVELS: dict[str, str] = {
    "patch": "包片",
    "building": "包栋",
    "unit": "包单元",
    "household": "包户",
    "micro_grid": "微网格员",
}

#: who normally takes which level (seed 004): used to suggest, and to flag after boundary changes
LEVEL_OF_KIND: dict[str, str] = {
    "committee": "patch",
    "cobuilding_contact": "patch",
    "grid_worker": "building",
    "owners_committee": "building",
    "volunteer": "unit",
    "member": "household",
    "micro_grid_worker": "micro_grid",
}

#: kinds of person tied to a grid (their building assignments are flagged, not kept, when the building moves)
GRID_BOUND_KINDS = frozenset({"grid_worker", "micro_grid_worker"})

CARE_CATEGORIES: dict[str, str] = {
    "elderly_alone": "独居老人",
    "difficulty": "困难家庭",
    "limited_mobility": "行动不便",
    "disabled": "残疾人",
    "left_behind": "留守儿童",
    "other": "其他需关爱",
}

#: user text → (person kind, member kind); matched on the stripped text
_KIND_WORDS: dict[str, tuple[str, str | None]] = {
    **{v: ("member", k) for k, v in MEMBER_KINDS.items()},
    **{v.removesuffix("党员"): ("member", k) for k, v in MEMBER_KINDS.items()},
    "退休党员": ("member", "retired"),
    "离休党员": ("member", "retired"),
    "党员": ("member", "direct"),
    **{v: (k, None) for k, v in PERSON_KINDS.items() if k != "member"},
    "网格员": ("grid_worker", None),
    "兼职网格员": ("micro_grid_worker", None),
    "两委": ("committee", None),
    "社区两委": ("committee", None),
    "业委会": ("owners_committee", None),
    "物业": ("property_manager", None),
    "志愿者": ("volunteer", None),
    "共驻共建": ("cobuilding_contact", None),
}


def person_kind_of(text: str | None) -> tuple[str, str | None]:
    """``(kind, member_kind)`` of a category text (Chinese label or English code).

    >>> person_kind_of("在职党员"), person_kind_of("在职"), person_kind_of("volunteer")
    (('member', 'in_service'), ('member', 'in_service'), ('volunteer', None))
    """
    raw = (text or "").strip()
    if raw in MEMBER_KINDS:
        return "member", raw
    if raw in PERSON_KINDS:
        return raw, ("direct" if raw == "member" else None)
    if raw in _KIND_WORDS:
        return _KIND_WORDS[raw]
    known = "、".join(list(MEMBER_KINDS.values()) + [v for k, v in PERSON_KINDS.items() if k != "member"])
    raise ValidationError(f"category {raw!r} is not a known kind of person; use one of {known}")


def unit_target(building_code: str, unit: int) -> str:
    """The target code of a unit: ``<building code>-U<n>``.

    >>> unit_target("310115005039Q001B001", 2)
    '310115005039Q001B001-U2'
    """
    return f"{building_code}-U{int(unit)}"


def split_unit_target(target: str) -> tuple[str, int | None]:
    """``(building code, unit)`` of a unit target; ``unit`` is ``None`` for a building code."""
    code, sep, unit = target.rpartition("-U")
    if sep and unit.isdigit():
        return code, int(unit)
    return target, None


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ValidationError(f"unknown responsibility level {level!r}; use one of {', '.join(LEVELS)}")
    return level


__all__ = [
    "CARE_CATEGORIES",
    "GRID_BOUND_KINDS",
    "LEVELS",
    "LEVEL_OF_KIND",
    "MEMBER_KINDS",
    "ORG_KINDS",
    "PERSON_KINDS",
    "check_level",
    "person_kind_of",
    "split_unit_target",
    "unit_target",
]
