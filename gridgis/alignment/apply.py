"""Loading a community from the store, and applying a proposal as a new boundary generation.

Applying is a dry run unless ``commit=True`` (mapit's rule for operational commands); a commit
never overwrites: the storage creates a new generation and keeps the old boundaries readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import shapely

from gridgis.alignment.propose import Proposal
from gridgis.crs import metric_crs_for
from gridgis.errors import NotFoundError, ValidationError

LAYERS_NEEDED = ("communities", "compounds", "buildings", "grids")


def load_community(repository: Any, community_code: str, generation: int | None = None,
                   with_neighbours: bool = False) -> dict[str, gpd.GeoDataFrame]:
    """The layers of one community from the store: ``communities`` (that one), its grids,
    compounds and buildings (by ``community_code``), and its open tickets when the store has them."""
    communities = repository.read_layer("communities", generation=generation, codes=[community_code])
    if not len(communities):
        raise NotFoundError(f"community {community_code} is not in the store; list the communities with "
                            "`gridgis info` or check the code (12 digits)")
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

    def to_dict(self) -> dict[str, Any]:
        gen = self.generation
        return {"community_code": self.community_code, "dry_run": self.dry_run, "changes": self.changes,
                "generation": None if gen is None else {"id": gen.id, "author": gen.author, "message": gen.message,
                                                        "created_at": str(gen.created_at)},
                "notes": self.notes}


def apply_proposal(repository: Any, community_code: str, proposal: Proposal, author: str, message: str = "",
                   commit: bool = False, tolerance_m2: float = 0.01) -> ApplyResult:
    """Apply the proposal's grids of one community to the store.

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
        A grid whose geometry moves by less than this many m² and keeps its households is unchanged.

    Returns
    -------
    ApplyResult
        The replace/delete changes (with the stored version each expects) and, when committed, the
        new generation.
    """
    from gridgis.storage import FeatureChange

    if not proposal.coverage_after.ok:
        raise ValidationError(f"community {community_code}: the proposal is not an exact coverage "
                              f"({len(proposal.coverage_after.problems())} problem(s)); nothing was applied",
                              proposal.coverage_after.problems())
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
    for code in sorted(set(old.index) | set(new.index)):
        version = int(old.loc[code, "version"]) if code in old.index and "version" in old.columns else None
        if code not in new.index:
            changes.append({"op": "delete", "code": code, "households_before": int(old.loc[code, "households"])})
            feature_changes.append(FeatureChange("grids", "delete", code, expected_version=version))
            continue
        if code not in old.index:
            raise ValidationError(f"grid {code} of the proposal is not in the store; the proposal was made on "
                                  "other data: propose again from the store")
        moved = float(shapely.area(shapely.symmetric_difference(old_m.loc[code], new_m.loc[code])))
        hh_old, hh_new = int(old.loc[code, "households"]), int(new.loc[code, "households"])
        if moved <= tolerance_m2 and hh_old == hh_new:
            continue
        changes.append({"op": "replace", "code": code, "area_changed_m2": round(moved, 3),
                        "households_before": hh_old, "households_after": hh_new})
        feature_changes.append(FeatureChange("grids", "replace", code, {"households": hh_new},
                                             new.loc[code, "geometry"], expected_version=version))
    result = ApplyResult(community_code=community_code, dry_run=not commit, changes=changes)
    if changes:
        result.notes.append("micro-grids of the changed grids keep their old lines: split them again "
                            "(gridgis microgrid split) after applying")
    if commit and feature_changes:
        result.generation = repository.apply_changes(
            feature_changes, author, message or f"align grids of community {community_code} to compound boundaries")
    return result
