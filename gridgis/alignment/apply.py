"""Loading a community from the store, and applying a proposal as a new boundary generation.

Applying is a dry run unless ``commit=True`` (mapit's rule for operational commands); a commit
never overwrites: the storage creates a new generation and keeps the old boundaries readable.
There is one write path for boundaries: the proposal becomes editing edits stored by
:func:`gridgis.editing.service.commit` (locked validation by the one coverage rule, versions
pinned), attributed to the authenticated principal and audited by the caller. The micro-grids of
every grid whose lines change are split again from its buildings in the same generation, so the
store never holds micro-grids that do not nest in their grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import shapely

from gridgis import codes
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.propose import Proposal
from gridgis.crs import metric_crs_for
from gridgis.errors import NotFoundError, ValidationError

#: fields of a grid created by a split that are copied from the proposal
GRID_FIELDS = ("name", "community_code", "kind", "dedicated_for", "households")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (for the storage layer)."""
    return value.item() if hasattr(value, "item") else value


def load_community(repository: Any, community_code: str, generation: int | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The layers of one community from the store: ``communities`` (that one), its grids,
    compounds and buildings (by ``community_code``), and its open tickets when the store has them."""
    communities = repository.read_layer("communities", generation=generation, codes=[community_code])
    if not len(communities):
        raise NotFoundError(
            f"community {community_code} is not in the store; list the communities with "
            "`gridgis info` or check the code (12 digits)"
        )
    out = {"communities": communities}
    for layer in ("grids", "compounds", "buildings"):
        out[layer] = repository.read_layer(layer, generation=generation, filters={"community_code": community_code})
    return out


@dataclass
class ApplyResult:
    """What applying a proposal did (or, in a dry run, would do)."""

    community_code: str
    dry_run: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    generation: Any = None
    notes: list[str] = field(default_factory=list)
    #: the micro-grid creates/replaces/deletes that go with the grid changes
    micro_grid_changes: list[dict[str, Any]] = field(default_factory=list)
    #: every re-split micro-grid left outside the micro-grid household range, with the reason
    micro_grid_explanations: list[dict[str, Any]] = field(default_factory=list)
    #: the edits the editing service stores (grids, their noded neighbours, micro-grids)
    edits: list[Any] = field(default_factory=list)
    #: in a dry run: what the commit check would refuse (empty: the commit would be stored)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        gen = self.generation
        return {
            "community_code": self.community_code,
            "dry_run": self.dry_run,
            "changes": self.changes,
            "generation": None
            if gen is None
            else {"id": gen.id, "author": gen.author, "message": gen.message, "created_at": str(gen.created_at)},
            "notes": self.notes,
            "micro_grid_changes": self.micro_grid_changes,
            "micro_grid_explanations": self.micro_grid_explanations,
            "problems": self.problems,
        }


def _micro_rows(edits: list[Any], old: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """The readable micro-grid changes of ``edits`` (``op`` create/replace/delete, households before/after)."""
    before = {str(c): int(h or 0) for c, h in zip(old["code"], old["households"])} if len(old) else {}
    grid_of = {str(c): str(g) for c, g in zip(old["code"], old["grid_code"])} if len(old) else {}
    rows = []
    for e in sorted((e for e in edits if e.layer == "micro_grids"), key=lambda e: (e.op == "delete", e.code)):
        row: dict[str, Any] = {"op": e.op, "code": e.code, "grid_code": grid_of.get(e.code, codes.grid_of(e.code))}
        if e.op != "create":
            row["households_before"] = before.get(e.code)
        if e.op != "delete":
            row["households_after"] = int(e.properties.get("households") or 0)
        rows.append(row)
    return rows


def apply_proposal(
    repository: Any,
    community_code: str,
    proposal: Proposal,
    author: str,
    message: str = "",
    commit: bool = False,
    tolerance_m2: float = 0.01,
    config: AlignmentConfig | None = None,
    record: Callable[[Callable[[], Any], list[Any]], Any] | None = None,
) -> ApplyResult:
    """Apply the proposal's grids of one community, with their micro-grids, through the editing service.

    The proposal becomes a list of :class:`~gridgis.editing.changes.Edit` (grids replaced, created,
    deleted; their family noded; the micro-grids of every changed grid split again from whole
    buildings, :func:`gridgis.editing.follow.with_micro_grids`) that
    :func:`gridgis.editing.service.commit` stores as one generation: the same locked validation as
    every edit, each replace and delete pinned to the stored version.

    Parameters
    ----------
    repository : gridgis.storage.Repository
    community_code : str
        The community whose grids change; grids of other communities in the proposal are ignored.
    proposal : Proposal
        From :func:`gridgis.alignment.propose.propose_alignment`.
    author, message : str
        Recorded on the new generation: ``author`` is the authenticated principal (the API passes
        the token's holder, the CLI the OS user), never a name taken from a request body.
    commit : bool
        Dry run (nothing written; ``problems`` holds what validation would refuse) unless True.
    tolerance_m2 : float
        A grid whose geometry moves by less than this many m² and keeps its households is unchanged
        (and keeps its micro-grids).
    config : AlignmentConfig, optional
        The micro-grid household range; default the proposal's config.
    record : callable, optional
        Wraps the store: ``record(store, edits) -> generation`` may refuse the edits (e.g. outside the
        principal's scope) before calling ``store()``, and writes the audit entry.

    Returns
    -------
    ApplyResult
    """
    from gridgis.editing import service
    from gridgis.editing.changes import Edit, row_properties
    from gridgis.editing.follow import node_edits, with_micro_grids

    if not proposal.coverage_after.ok:
        raise ValidationError(
            f"community {community_code}: the proposal is not an exact coverage "
            f"({len(proposal.coverage_after.problems())} problem(s)); nothing was applied",
            proposal.coverage_after.problems(),
        )
    config = config or getattr(proposal, "config", None) or AlignmentConfig()
    stored = repository.read_layer("grids", filters={"community_code": community_code})
    proposed = proposal.grids[proposal.grids["community_code"].astype(str) == community_code]
    if not len(proposed):
        raise NotFoundError(f"the proposal holds no grid of community {community_code}; propose for it first")
    crs = metric_crs_for(stored if len(stored) else proposed)
    old = stored.set_index("code")
    new = proposed.set_index("code")
    old_m = old.geometry.to_crs(crs)
    new_m = new.geometry.to_crs(crs)
    changes: list[dict[str, Any]] = []
    edits: list[Any] = []
    created = {
        st["new_grid"]: st["grid"]
        for st in getattr(proposal, "restructured", [])
        if st["op"] == "split" and st["community_code"] == community_code
    }
    for code in sorted(set(old.index) | set(new.index)):
        version = int(old.loc[code, "version"]) if code in old.index and "version" in old.columns else None
        if code not in new.index:
            changes.append({"op": "delete", "code": code, "households_before": int(old.loc[code, "households"])})
            edits.append(Edit("grids", "delete", code, {}, None, version))
            continue
        if code not in old.index:
            if code not in created:
                raise ValidationError(
                    f"grid {code} of the proposal is not in the store; the proposal was made on "
                    "other data: propose again from the store"
                )
            row = new.loc[code]
            props = {k: _plain(row[k]) for k in GRID_FIELDS if k in new.columns and not _missing(row[k])}
            props["households"] = int(row["households"])
            changes.append(
                {"op": "create", "code": code, "split_from": created[code], "households_after": props["households"]}
            )
            edits.append(Edit("grids", "create", code, props, row["geometry"], None))
            continue
        moved = float(shapely.area(shapely.symmetric_difference(old_m.loc[code], new_m.loc[code])))
        hh_old, hh_new = int(old.loc[code, "households"]), int(new.loc[code, "households"])
        if moved <= tolerance_m2 and hh_old == hh_new:
            continue
        changes.append(
            {
                "op": "replace",
                "code": code,
                "area_changed_m2": round(moved, 3),
                "households_before": hh_old,
                "households_after": hh_new,
            }
        )
        props = row_properties("grids", old.loc[code].to_dict() | {"code": code})
        props["households"] = hh_new
        edits.append(Edit("grids", "replace", code, props, new.loc[code, "geometry"], version))
    result = ApplyResult(community_code=community_code, dry_run=not commit, changes=changes)
    if not edits:
        return result
    touched = sorted({e.code for e in edits})
    micro = repository.read_layer("micro_grids", filters={"grid_code": touched})
    buildings = repository.read_layer("buildings", filters={"community_code": community_code})
    edits = node_edits(stored, edits)
    edits = with_micro_grids(edits, stored, micro, buildings, config, always=True)
    for ch in changes:  # households follow the buildings when they are complete
        e = next((e for e in edits if e.layer == "grids" and e.code == ch["code"] and e.op != "delete"), None)
        if e is not None:
            ch["households_after"] = int(e.properties.get("households") or 0)
    result.edits = edits
    result.micro_grid_changes = _micro_rows(edits, micro)
    lo, hi = config.microgrid_min, config.microgrid_max
    result.micro_grid_explanations = [
        {
            "micro_grid": r["code"],
            "grid": r["grid_code"],
            "households": r["households_after"],
            "reason": "outside range",
        }
        for r in result.micro_grid_changes
        if r["op"] != "delete" and not lo <= r["households_after"] <= hi
    ]
    resplit = sorted({r["grid_code"] for r in result.micro_grid_changes if r["op"] != "delete"})
    if resplit:
        result.notes.append(
            f"micro-grids of {len(resplit)} changed grid(s) split again from whole buildings "
            f"({lo}–{hi} households): "
            f"{sum(r['op'] == 'create' for r in result.micro_grid_changes)} created, "
            f"{sum(r['op'] == 'replace' for r in result.micro_grid_changes)} replaced, "
            f"{sum(r['op'] == 'delete' for r in result.micro_grid_changes)} retired"
        )
    if result.micro_grid_explanations:
        result.notes.append(
            f"{len(result.micro_grid_explanations)} re-split micro-grid(s) stay outside {lo}–{hi} households "
            "(see micro_grid_explanations)"
        )
    if not commit:
        result.problems = [p.to_dict() for p in service.check(repository, edits)]
        return result
    text = message or f"align grids of community {community_code} to compound boundaries"

    def store() -> Any:
        return service.commit(repository, edits, author, text)

    result.generation = record(store, edits) if record is not None else store()
    return result
