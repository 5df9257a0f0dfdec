"""Loading a community from the store, and applying a proposal as a new boundary generation.

Applying is a dry run unless ``commit=True`` (mapit's rule for operational commands); a commit
never overwrites: the storage creates a new generation and keeps the old boundaries readable.
The micro-grids of every grid whose lines change are split again from its buildings and written
in the same generation, so the store never holds micro-grids that do not nest in their grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import shapely

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.microgrid import split_microgrids
from gridgis.alignment.propose import Proposal
from gridgis.crs import metric_crs_for
from gridgis.errors import NotFoundError, ValidationError

LAYERS_NEEDED = ("communities", "compounds", "buildings", "grids")
#: fields of a grid created by a split that are copied from the proposal
GRID_FIELDS = ("name", "community_code", "kind", "dedicated_for", "households")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (for the storage layer)."""
    return value.item() if hasattr(value, "item") else value


def load_community(
    repository: Any, community_code: str, generation: int | None = None, with_neighbours: bool = False
) -> dict[str, gpd.GeoDataFrame]:
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
        }


def micro_grid_changes(
    repository: Any,
    community_code: str,
    grids: gpd.GeoDataFrame,
    resplit: list[str],
    retired: list[str],
    config: AlignmentConfig | None = None,
) -> tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
    """The micro-grid changes that keep micro-grids nested in changed grids.

    Parameters
    ----------
    repository : gridgis.storage.Repository
    community_code : str
        The community whose buildings are split.
    grids : GeoDataFrame
        The new grids (EPSG:4326, ``code``); only those in ``resplit`` are used.
    resplit : list of str
        Codes of the grids whose lines change: their micro-grids are split again from whole
        buildings (:func:`gridgis.alignment.microgrid.split_microgrids`).
    retired : list of str
        Codes of the grids that disappear: their micro-grids are deleted.
    config : AlignmentConfig, optional
        ``microgrid_min``/``microgrid_max`` and ``grid_size_m``.

    Returns
    -------
    (list of dict, list of FeatureChange, list of dict)
        The readable changes (``op``, ``code``, ``grid_code``, ``households_before``/``after``),
        the storage changes (each replace/delete expecting the stored version) and the
        explanations of re-split micro-grids outside the household range.
    """
    from gridgis.storage import FeatureChange

    config = config or AlignmentConfig()
    touched = sorted(set(resplit) | set(retired))
    if not touched:
        return [], [], []
    old = repository.read_layer("micro_grids", filters={"grid_code": touched})
    versions = old["version"] if "version" in old.columns else [None] * len(old)
    old_by_code = {
        str(c): (None if v is None else int(v), int(h or 0))
        for c, v, h in zip(old["code"], versions, old["households"])
    }
    rows: list[dict[str, Any]] = []
    feature_changes: list[Any] = []
    explanations: list[dict[str, Any]] = []
    new_codes: set[str] = set()
    if resplit:
        targets = grids[grids["code"].astype(str).isin(resplit)].reset_index(drop=True)
        buildings = repository.read_layer("buildings", filters={"community_code": community_code})
        micro, explanations = split_microgrids(targets, buildings if len(buildings) else None, config)
        for rec in micro.sort_values("code").to_dict("records"):
            code = str(rec["code"])
            new_codes.add(code)
            props = {"name": rec["name"], "grid_code": rec["grid_code"], "households": int(rec["households"])}
            if code in old_by_code:
                version, before = old_by_code[code]
                rows.append(
                    {
                        "op": "replace",
                        "code": code,
                        "grid_code": rec["grid_code"],
                        "households_before": before,
                        "households_after": props["households"],
                        "buildings": int(rec["buildings"]),
                    }
                )
                feature_changes.append(
                    FeatureChange("micro_grids", "replace", code, props, rec["geometry"], expected_version=version)
                )
            else:
                rows.append(
                    {
                        "op": "create",
                        "code": code,
                        "grid_code": rec["grid_code"],
                        "households_after": props["households"],
                        "buildings": int(rec["buildings"]),
                    }
                )
                feature_changes.append(FeatureChange("micro_grids", "create", code, props, rec["geometry"]))
    for code, grid_code in sorted(zip(old["code"].astype(str), old["grid_code"].astype(str))):
        if code not in new_codes:
            version, before = old_by_code[code]
            rows.append({"op": "delete", "code": code, "grid_code": grid_code, "households_before": before})
            feature_changes.append(FeatureChange("micro_grids", "delete", code, expected_version=version))
    return rows, feature_changes, explanations


def apply_proposal(
    repository: Any,
    community_code: str,
    proposal: Proposal,
    author: str,
    message: str = "",
    commit: bool = False,
    tolerance_m2: float = 0.01,
    config: AlignmentConfig | None = None,
) -> ApplyResult:
    """Apply the proposal's grids of one community, with their micro-grids, to the store.

    Parameters
    ----------
    repository : gridgis.storage.Repository
    community_code : str
        The community whose grids change; grids of other communities in the proposal are ignored.
    proposal : Proposal
        From :func:`gridgis.alignment.propose.propose_alignment`.
    author, message : str
        Recorded on the new generation.
    commit : bool
        Dry run (nothing written) unless True.
    tolerance_m2 : float
        A grid whose geometry moves by less than this many m² and keeps its households is unchanged
        (and keeps its micro-grids).
    config : AlignmentConfig, optional
        The micro-grid household range used to split the changed grids again; default the
        proposal's config.

    Returns
    -------
    ApplyResult
        The grid and micro-grid replace/delete/create changes (each replace and delete expecting
        the stored version) and, when committed, the one new generation holding them all.
    """
    from gridgis.storage import FeatureChange

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
    changes, feature_changes = [], []
    resplit, retired = [], []
    created = {
        st["new_grid"]: st["grid"]
        for st in getattr(proposal, "restructured", [])
        if st["op"] == "split" and st["community_code"] == community_code
    }
    for code in sorted(set(old.index) | set(new.index)):
        version = int(old.loc[code, "version"]) if code in old.index and "version" in old.columns else None
        if code not in new.index:
            changes.append({"op": "delete", "code": code, "households_before": int(old.loc[code, "households"])})
            feature_changes.append(FeatureChange("grids", "delete", code, expected_version=version))
            retired.append(code)
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
            feature_changes.append(FeatureChange("grids", "create", code, props, row["geometry"]))
            resplit.append(code)
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
        feature_changes.append(
            FeatureChange(
                "grids", "replace", code, {"households": hh_new}, new.loc[code, "geometry"], expected_version=version
            )
        )
        resplit.append(code)
    result = ApplyResult(community_code=community_code, dry_run=not commit, changes=changes)
    micro_rows, micro_changes, micro_expl = micro_grid_changes(
        repository, community_code, proposed.reset_index(drop=True), resplit, retired, config
    )
    result.micro_grid_changes = micro_rows
    result.micro_grid_explanations = micro_expl
    if resplit:
        result.notes.append(
            f"micro-grids of {len(resplit)} changed grid(s) split again from whole buildings "
            f"({config.microgrid_min}–{config.microgrid_max} households): "
            f"{sum(r['op'] == 'create' for r in micro_rows)} created, "
            f"{sum(r['op'] == 'replace' for r in micro_rows)} replaced, "
            f"{sum(r['op'] == 'delete' for r in micro_rows)} retired"
        )
    if micro_expl:
        result.notes.append(
            f"{len(micro_expl)} re-split micro-grid(s) stay outside "
            f"{config.microgrid_min}–{config.microgrid_max} households (see micro_grid_explanations)"
        )
    if commit and feature_changes:
        result.generation = repository.apply_changes(
            feature_changes + micro_changes,
            author,
            message or f"align grids of community {community_code} to compound boundaries",
        )
    return result
