"""GeoPackage round trip: export a community for editing in QGIS, import the edited file as a proposal.

The exported file holds one layer per editable layer (grids, micro-grids, compounds, buildings,
stations) with the ``version`` of each feature, plus the community outline as ``community``
(a reference, not imported) and a ``gridgis_export`` table naming the community and generation.
Importing compares the file with the store: changed features become replaces carrying the
version they were exported at (so a feature changed meanwhile is refused with 412 on commit),
new codes creates, missing codes deletes (the ``op`` of :class:`gridgis.editing.changes.Edit`). Nothing is stored until the plan is committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gridgis.auth.privacy import without_contacts
from gridgis.crs import STORAGE_CRS
from gridgis.editing.changes import Edit, plain, row_properties
from gridgis.errors import NotFoundError, Problem, ValidationError
from gridgis.layers import get_spec, normalize_frame

EDITABLE = ("grids", "micro_grids", "compounds", "buildings", "stations")
META_LAYER = "gridgis_export"


def _community_rows(repo: Any, layer: str, community: str) -> gpd.GeoDataFrame:
    frame = repo.read_layer(layer)
    return frame[[str(c).startswith(community) for c in frame["code"]]]


def _for_file(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy()
    for col in out.columns:
        if col != "geometry" and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if v is not None else None)
    return out


def _workers_list(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _keep_contacts_for(frame: gpd.GeoDataFrame, contacts: Callable[[str], bool] | None) -> gpd.GeoDataFrame:
    """``frame`` with the workers' contacts left out of the rows whose code ``contacts`` refuses."""
    if contacts is None or "workers" not in frame.columns:
        return frame
    out = frame.copy()
    out["workers"] = [
        w if contacts(str(code)) else without_contacts(_workers_list(w))
        for code, w in zip(out["code"], out["workers"], strict=True)
    ]
    return out


def export_community(
    repo: Any, community: str, path: str | Path, contacts: Callable[[str], bool] | None = None
) -> dict[str, int]:
    """Write community ``community`` to the GeoPackage ``path``; return the feature count per layer.

    ``contacts(code)`` says whether the workers' contacts (phones…) of feature ``code`` go into the
    file (the API passes :func:`gridgis.auth.tokens.sees_personal_data` for the reader); ``None``
    keeps them all (the CLI, run by the operator).
    """
    path = Path(path)
    outline = repo.read_layer("communities", codes=[community])
    if not len(outline):
        raise NotFoundError(
            f"community {community} does not exist; list communities with GET /collections/communities/items"
        )
    path.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    pyogrio.write_dataframe(_for_file(outline), path, layer="community", driver="GPKG")
    for layer in EDITABLE:
        frame = _community_rows(repo, layer, community)
        counts[layer] = len(frame)
        if len(frame):
            pyogrio.write_dataframe(
                _for_file(_keep_contacts_for(frame, contacts)), path, layer=layer, driver="GPKG", append=True
            )
    generation = repo.current_generation()
    meta = pd.DataFrame([{"community": community, "generation": generation.id if generation else 0}])
    pyogrio.write_dataframe(meta, path, layer=META_LAYER, driver="GPKG", append=True)
    return counts


@dataclass
class ImportPlan:
    """What an edited GeoPackage would change: edits, their validation problems and stale features."""

    community: str
    generation: int
    edits: list[Edit] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.stale

    def summary(self) -> list[dict[str, Any]]:
        return [{"layer": e.layer, "op": e.op, "code": e.code, "name": e.properties.get("name")} for e in self.edits]


def read_export(path: str | Path) -> tuple[str, int, dict[str, gpd.GeoDataFrame]]:
    """The community, generation and editable layers (normalised, with ``version``) of an exported file."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"{path} does not exist")
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except pyogrio.errors.DataSourceError as err:
        from gridgis.errors import MalformedInputError

        raise MalformedInputError(
            f"{path.name} is not a readable GeoPackage ({err}); send the file exported by "
            "`gridgis edit export-community CODE --out FILE.gpkg`"
        ) from None
    if META_LAYER not in names:
        raise ValidationError(
            f"{path} was not exported by gridgis (no {META_LAYER} table); "
            "export it with `gridgis edit export-community CODE --out FILE.gpkg`"
        )
    meta = pyogrio.read_dataframe(path, layer=META_LAYER, read_geometry=False)
    community, generation = str(meta["community"].iloc[0]), int(meta["generation"].iloc[0])
    frames: dict[str, gpd.GeoDataFrame] = {}
    for layer in EDITABLE:
        if layer not in names:
            continue
        raw = pyogrio.read_dataframe(path, layer=layer)
        raw = raw.set_crs(STORAGE_CRS, allow_override=True) if raw.crs is None else raw.to_crs(STORAGE_CRS)
        frame = normalize_frame(get_spec(layer), raw)
        frame["version"] = pd.to_numeric(raw["version"], errors="coerce") if "version" in raw else pd.NA
        frames[layer] = frame
    return community, generation, frames


def plan_import(repo: Any, path: str | Path) -> ImportPlan:
    """Compare an edited export with the store; validate the resulting edits (nothing is stored)."""
    from gridgis.editing import service

    community, generation, frames = read_export(path)
    plan = ImportPlan(community, generation)
    for layer, edited in frames.items():
        current = _community_rows(repo, layer, community)
        by_code = {str(r["code"]): r for _, r in current.iterrows()}
        for _, row in edited.iterrows():
            code = str(row["code"])
            props = row_properties(layer, row)
            old = by_code.pop(code, None)
            if old is not None:
                props = _contacts_kept(props, row_properties(layer, old))
            version = plain(row.get("version"))
            if old is None:
                plan.edits.append(Edit(layer, "create", code, props, row.geometry, None))
                continue
            same_geom = row.geometry is not None and shapely.equals_exact(row.geometry, old.geometry, 1e-10)
            if props == row_properties(layer, old) and same_geom:
                continue
            if version is not None and int(version) != int(old["version"]):
                plan.stale.append(
                    f"{layer} {code}: edited at version {int(version)}, stored version {int(old['version'])}"
                )
            plan.edits.append(
                Edit(
                    layer,
                    "replace",
                    code,
                    props,
                    row.geometry,
                    int(version) if version is not None else int(old["version"]),
                )
            )
        for code, old in by_code.items():
            plan.edits.append(Edit(layer, "delete", code, {}, None, int(old["version"])))
    if plan.edits:
        plan.problems = service.check(repo, plan.edits)
    return plan


def _contacts_kept(props: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``props`` with the stored workers when the file holds them without the contacts its reader
    was not given (an export for a reader outside the scope): leaving phones out is no edit."""
    edited, kept = _workers_list(props.get("workers")), _workers_list(stored.get("workers"))
    if edited and kept and edited != kept and without_contacts(kept) == edited:
        return {**props, "workers": stored.get("workers")}
    return props


def commit_import(repo: Any, plan: ImportPlan, author: str, message: str) -> Any:
    """Store a plan as one generation; refused when it has problems or stale features."""
    from gridgis.editing import service
    from gridgis.errors import PreconditionFailedError

    if plan.stale:
        raise PreconditionFailedError(
            f"{len(plan.stale)} feature(s) changed in the store since the export; "
            "export again and redo those edits: " + "; ".join(plan.stale[:10])
        )
    if plan.problems:
        raise ValidationError(f"{len(plan.problems)} problem(s) found; nothing was stored", plan.problems)
    return service.commit(repo, plan.edits, author, message)
