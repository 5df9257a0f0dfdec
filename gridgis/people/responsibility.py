"""Responsibility coverage (包片/包栋/包单元/包户, 一微网格一网格员): the check, the map layer, the boundary follow-up.

Pure functions over frames:

- ``buildings``: :attr:`gridgis.people.placement.Placer.buildings` (index = building code; ``units``,
  ``grid_code``, ``micro_grid_code``, ``community_code``);
- ``assignments``: :meth:`PeopleStore.assignments_frame` (``person_id``, ``level``, ``target``, ``kind``,
  ``name``, ``grid_code``);
- ``micro_grids``: the micro-grid codes that must each have their worker.

Coverage of a building (the one rule, :func:`building_states`):

=========== ================================================================== =========
state       meaning                                                            covered
=========== ================================================================== =========
building    someone answers for the whole building (包栋)                       yes
units       no 包栋, but every unit has someone (包单元)                         yes
partial     some units have someone, some do not                               no
patch       only a patch (包片: its grid or community) covers it                no
none        nobody                                                             no
=========== ================================================================== =========

A unit is covered by a unit assignment or by its building's. Households (包户) are counted but do
not cover a building. A *flagged* assignment (a boundary change left it pointing elsewhere: a grid
worker's building moved to another grid, a micro-grid or grid that no longer exists) covers nothing
until someone re-assigns it; the check lists it. Over-assignment: more targets at one level than :data:`DEFAULT_LIMITS` allows
(configurable per call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gridgis.people.model import GRID_BOUND_KINDS, LEVELS, split_unit_target

#: the most targets one person may answer for at each level (over it → over-assigned)
DEFAULT_LIMITS: dict[str, int] = {"patch": 3, "building": 30, "unit": 8, "household": 10, "micro_grid": 1}

STATES = ("building", "units", "partial", "patch", "none")
STATE_LABELS = {
    "building": "包栋",
    "units": "包单元全覆盖",
    "partial": "部分单元",
    "patch": "仅包片",
    "none": "无人负责",
}
STATE_COLOURS = {"building": "#1a9850", "units": "#66bd63", "partial": "#fee08b", "patch": "#fdae61", "none": "#d73027"}


@dataclass
class CoverageReport:
    """The result of :func:`check_coverage`."""

    states: pd.DataFrame  # one row per building: state, responsible, units, units_covered
    uncovered_buildings: list[str]
    uncovered_units: list[str]
    over_assigned: list[dict[str, Any]]
    micro_grids_without_worker: list[str]
    limits: dict[str, int] = field(default_factory=dict)
    flagged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share_covered(self) -> float:
        n = len(self.states)
        return float(self.states["state"].isin(["building", "units"]).sum() / n) if n else 0.0

    def summary(self) -> dict[str, Any]:
        counts = self.states["state"].value_counts().to_dict() if len(self.states) else {}
        return {
            "buildings": len(self.states),
            "share_covered": round(self.share_covered, 4),
            "states": {s: int(counts.get(s, 0)) for s in STATES},
            "uncovered_buildings": len(self.uncovered_buildings),
            "uncovered_units": len(self.uncovered_units),
            "over_assigned": len(self.over_assigned),
            "micro_grids_without_worker": len(self.micro_grids_without_worker),
            "flagged_assignments": len(self.flagged),
        }


def building_states(buildings: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """One row per building: ``state`` (see the module docstring), ``responsible`` (names), unit counts."""
    a = assignments
    by_building: dict[str, list[str]] = {}
    units_cov: dict[str, set[int]] = {}
    patches: set[str] = set()
    for level, target, name in zip(a["level"], a["target"], a["name"]):
        if level == "building":
            by_building.setdefault(target, []).append(str(name))
        elif level == "unit":
            code, unit = split_unit_target(target)
            if unit is not None:
                units_cov.setdefault(code, set()).add(unit)
                by_building.setdefault(code, [])
        elif level == "patch":
            patches.add(target)
    rows = []
    for code, units, grid, community in zip(
        buildings.index, buildings["units"], buildings["grid_code"], buildings["community_code"]
    ):
        units = max(int(units), 1)
        whole = by_building.get(code) or []
        covered_units = units if whole else len({u for u in units_cov.get(code, ()) if 1 <= u <= units})
        if whole:
            state = "building"
        elif covered_units == units:
            state = "units"
        elif covered_units:
            state = "partial"
        elif grid in patches or community in patches:
            state = "patch"
        else:
            state = "none"
        rows.append((code, state, "、".join(whole), units, covered_units, grid, community))
    return pd.DataFrame(
        rows, columns=["code", "state", "responsible", "units", "units_covered", "grid_code", "community_code"]
    ).set_index("code")


def check_coverage(
    buildings: pd.DataFrame,
    assignments: pd.DataFrame,
    micro_grids: list[str],
    limits: dict[str, int] | None = None,
) -> CoverageReport:
    """Find every building and unit with nobody responsible, every over-assigned person, every micro-grid without its worker."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    flagged_rows = _flagged(assignments)
    flagged = [
        {"assignment": int(r.id), "person_id": int(r.person_id), "name": r.name, "level": r.level, "target": r.target}
        | {"reason": r.flag}
        for r in assignments[flagged_rows].itertuples(index=False)
    ]
    assignments = assignments[~flagged_rows]
    states = building_states(buildings, assignments)
    uncovered_b = [c for c, s in zip(states.index, states["state"]) if s not in ("building", "units")]
    unit_targets: set[str] = set(assignments.loc[assignments["level"] == "unit", "target"])
    uncovered_u = [
        f"{code}-U{u}"
        for code, s, units in zip(states.index, states["state"], states["units"])
        if s in ("partial", "patch", "none")
        for u in range(1, int(units) + 1)
        if f"{code}-U{u}" not in unit_targets
    ]
    over = []
    if len(assignments):
        counts = assignments.groupby(["person_id", "level"]).size()
        names = dict(zip(assignments["person_id"], assignments["name"]))
        for (pid, level), n in counts.items():
            if n > limits.get(level, 10**9):
                over.append(
                    {
                        "person_id": int(pid),
                        "name": names.get(pid),
                        "level": level,
                        "label": LEVELS[level],
                        "count": int(n),
                        "limit": limits[level],
                    }
                )
    workers = set(assignments.loc[assignments["level"] == "micro_grid", "target"])
    missing = [m for m in micro_grids if m not in workers]
    return CoverageReport(states, uncovered_b, uncovered_u, over, missing, limits, flagged)


def _flagged(assignments: pd.DataFrame) -> pd.Series:
    if "flag" not in assignments.columns:
        return pd.Series(False, index=assignments.index)
    return assignments["flag"].fillna("").astype(str).str.len() > 0


def coverage_layer(buildings_layer: Any, states: pd.DataFrame, show_names: bool) -> Any:
    """The buildings layer (EPSG:4326) with ``responsibility``, its label and colour (names only when ``show_names``)."""
    out = buildings_layer[["code", "name", "geometry"]].copy()
    st = states.reindex(out["code"].astype(str))
    out["responsibility"] = st["state"].fillna("none").values
    out["responsibility_label"] = [STATE_LABELS[s] for s in out["responsibility"]]
    out["colour"] = [STATE_COLOURS[s] for s in out["responsibility"]]
    out["units"] = st["units"].fillna(0).astype(int).values
    out["units_covered"] = st["units_covered"].fillna(0).astype(int).values
    if show_names:
        out["responsible"] = st["responsible"].fillna("").values
    return out


def follow_plan(
    buildings: pd.DataFrame,
    persons: pd.DataFrame,
    assignments: pd.DataFrame,
    removed_areas: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """What changes when buildings moved to other grids/micro-grids (after an edit).

    - a person living in a moved building is re-placed (their home stays; its codes change);
    - an assignment to a moved building or unit follows it: kept for residents' roles (volunteers,
      members, owners' committee), **flagged** for grid-bound roles (grid and micro-grid workers answer
      for their own grid: a building that left their grid needs a new responsible person);
    - an assignment to a building that no longer exists, or to a micro-grid or grid (patch) in
      ``removed_areas`` (deleted by the edit), is flagged.
    ``assignments`` must only hold assignments to buildings of ``buildings`` (or removed ones).
    Returns ``{"persons": {id: place}, "assignments": {id: values}, "report": {...}}``; the report's
    ``uncovered_buildings`` are moved buildings nobody answers for any more (only flagged assignments left).
    """
    placed_cols = ["micro_grid_code", "grid_code", "community_code", "street_code"]
    moved_persons: dict[int, dict[str, Any]] = {}
    moved_buildings: set[str] = set()
    if len(persons):
        has_b = persons["building_code"].notna()
        for row in persons[has_b].itertuples(index=False):
            code = row.building_code
            if code not in buildings.index:
                continue
            now = buildings.loc[code]
            new = {c: _s(now[c]) for c in placed_cols}
            if any(new[c] != _s(getattr(row, c)) for c in placed_cols):
                moved_persons[int(row.id)] = new
                moved_buildings.add(code)
    changed: dict[int, dict[str, Any]] = {}
    kept, flagged = [], []
    for row in assignments.itertuples(index=False):
        if row.level in ("micro_grid", "patch") and row.target in removed_areas:
            what = "micro-grid" if row.level == "micro_grid" else "area"
            changed[int(row.id)] = {"flag": f"{what} {row.target} no longer exists"}
            flagged.append(
                {"assignment": int(row.id), "target": row.target, "reason": f"{what} removed", "name": row.name}
            )
            continue
        if row.level not in ("building", "unit", "household"):
            continue
        code, _ = split_unit_target(str(row.target).split("#", 1)[0])
        if code not in buildings.index:
            changed[int(row.id)] = {"flag": f"building {code} no longer exists"}
            flagged.append(
                {"assignment": int(row.id), "target": row.target, "reason": "building removed", "name": row.name}
            )
            continue
        grid = _s(buildings.at[code, "grid_code"])
        if grid == _s(row.grid_code):
            continue
        moved_buildings.add(code)
        values: dict[str, Any] = {"grid_code": grid, "community_code": _s(buildings.at[code, "community_code"])}
        if row.kind in GRID_BOUND_KINDS:
            values["flag"] = (
                f"building {code} moved from grid {row.grid_code} to {grid}; its {row.kind} works for {row.grid_code}"
            )
            flagged.append(
                {"assignment": int(row.id), "target": row.target, "from": row.grid_code, "to": grid, "name": row.name}
            )
        else:
            kept.append({"assignment": int(row.id), "target": row.target, "from": row.grid_code, "to": grid})
        changed[int(row.id)] = values
    now_flagged = {f["assignment"] for f in flagged}
    still = {
        split_unit_target(str(r.target).split("#", 1)[0])[0]
        for r in assignments.itertuples(index=False)
        if r.level in ("building", "unit")
        and int(r.id) not in now_flagged
        and not (isinstance(getattr(r, "flag", None), str) and r.flag)
    }
    uncovered = sorted(c for c in moved_buildings if c not in still)
    return {
        "persons": moved_persons,
        "assignments": changed,
        "report": {
            "moved_buildings": sorted(moved_buildings),
            "persons_replaced": len(moved_persons),
            "assignments_kept": kept,
            "assignments_flagged": flagged,
            "uncovered_buildings": uncovered,
        },
    }


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


__all__ = [
    "DEFAULT_LIMITS",
    "STATES",
    "STATE_COLOURS",
    "STATE_LABELS",
    "CoverageReport",
    "building_states",
    "check_coverage",
    "coverage_layer",
    "follow_plan",
]
