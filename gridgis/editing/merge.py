"""Rebasing a save made on an older version of a feature, when that is safe.

QGIS keeps the ``version`` it downloaded: after a planner saves a feature, QGIS's copy still says
the old version, so the planner's next save of the same feature carries a stale version. When
every change since that version was the same planner's own, the save is applied on top of the
current version, field by field (base = the version the client had, theirs = the new save,
current = the stored feature): a field the save leaves as it was in the base keeps the current
value (a change the planner made elsewhere is not undone); a field the save changes takes the new
value, even when the planner had changed it already (their own newer value; nobody else's work is
involved). Any stale save over someone else's change is refused (412).
"""

from __future__ import annotations

from typing import Any

import shapely

_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, shapely.Geometry) or isinstance(b, shapely.Geometry):
        return a is not None and b is not None and shapely.equals_exact(a, b, 1e-10)
    return a == b


def three_way(base: dict[str, Any], theirs: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """Merge ``theirs`` into ``current`` given their common ``base``; None when a field conflicts.

    >>> sorted(three_way({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3}).items())
    [('a', 2), ('b', 3)]
    >>> three_way({"a": 1}, {"a": 2}, {"a": 3}) is None
    True
    """
    out: dict[str, Any] = {}
    for key in dict.fromkeys([*base, *theirs, *current]):
        b, t, c = base.get(key, _MISSING), theirs.get(key, _MISSING), current.get(key, _MISSING)
        if _same(t, b):
            value = c
        elif _same(c, b) or _same(t, c):
            value = t
        else:
            return None
        if value is not _MISSING:
            out[key] = value
    return out


def rebase_own_save(
    history: list[dict[str, Any]], client_version: int, author: str, fields: list[str], theirs: dict[str, Any]
) -> tuple[dict[str, Any], int] | None:
    """``(merged fields, current version)`` when a stale save may be rebased (see the module doc), else None
    (someone else changed the feature since, or it was deleted).

    ``history`` is :meth:`Repository.feature_history`; ``theirs`` holds ``fields`` and ``geometry``.
    """
    by_version = {h["version"]: h for h in history}
    later = [h for h in history if h["version"] > client_version]
    if client_version not in by_version or not later or any(h["author"] != author for h in later):
        return None
    if later[-1].get("ended_in") is not None:  # deleted since
        return None

    def flat(entry: dict[str, Any]) -> dict[str, Any]:
        row = {"name": entry["name"], **(entry.get("properties") or {}), "geometry": entry["geometry"]}
        return {k: row.get(k) for k in [*fields, "geometry"]}

    base, current = flat(by_version[client_version]), flat(later[-1])
    merged = {k: current[k] if _same(theirs.get(k), base[k]) else theirs.get(k) for k in [*fields, "geometry"]}
    return merged, int(later[-1]["version"])
