"""Proposed edits as plain values, and applying them to layer frames without storing anything.

An :class:`Edit` is one create, replace or delete of one feature of one layer (the vocabulary of
:class:`gridgis.storage.FeatureChange` and of OGC API – Features Part 4, ``ChangeOp``). Operations and
validation work on lists of edits and on layer frames (EPSG:4326); the API and CLI turn the
accepted list into storage changes in one call, so an operation is one generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS
from gridgis.errors import NotFoundError, ValidationError
from gridgis.layers import get_spec

if TYPE_CHECKING:  # one vocabulary, defined once with the storage change it becomes
    from gridgis.storage.model import ChangeOp


@dataclass
class Edit:
    """One change of one feature.

    ``properties`` holds the layer's fields (``name`` included, ``code`` excluded); for an
    replace it is the complete new set of properties. ``expected_version`` is the version the
    editor saw (``None`` when creating): a stale one is refused by storage with 412.
    """

    layer: str
    op: ChangeOp
    code: str
    properties: dict[str, Any] = field(default_factory=dict)
    geometry: shapely.Geometry | None = None
    expected_version: int | None = None

    def describe(self) -> str:
        return f"{self.op} {self.layer} {self.code}"


def row_properties(layer: str, row: pd.Series) -> dict[str, Any]:
    """The properties of a frame row as plain Python values (no NaN/NA), ``code`` and ``version`` excluded."""
    spec = get_spec(layer)
    out: dict[str, Any] = {}
    for col in ["name", *(f.name for f in spec.fields)]:
        out[col] = plain(row.get(col))
    return out


def plain(value: Any) -> Any:
    """A JSON-ready Python value: ``pd.NA``/NaN become ``None``, numpy scalars become Python ones."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


def apply_edits(frames: dict[str, gpd.GeoDataFrame], edits: list[Edit]) -> dict[str, gpd.GeoDataFrame]:
    """Return new frames with ``edits`` applied (indexed by code); the input frames are unchanged.

    Frames must hold at least the layers the edits touch (possibly empty). Raises
    :class:`NotFoundError` when a replace/delete names a code absent from its frame and
    :class:`ValidationError` when a create reuses an existing code.
    """
    out = {name: _by_code(frame) for name, frame in frames.items()}
    by_layer: dict[str, list[Edit]] = {}
    for edit in edits:
        by_layer.setdefault(edit.layer, []).append(edit)
    for layer, layer_edits in by_layer.items():
        frame = out.get(layer)
        if frame is None:
            from gridgis.layers.base import empty_frame

            frame = _by_code(empty_frame(get_spec(layer)))
        present = set(frame.index)
        drop: set[str] = set()
        rows: dict[str, dict[str, Any]] = {}
        for edit in layer_edits:
            exists = edit.code in present
            if edit.op == "delete":
                if not exists:
                    raise NotFoundError(f"{layer} {edit.code} does not exist; nothing to delete")
                present.discard(edit.code)
                drop.add(edit.code)
                rows.pop(edit.code, None)
                continue
            if edit.op == "create" and exists:
                raise ValidationError(f"{layer} {edit.code} already exists; choose another code or replace it")
            if edit.op == "replace" and not exists:
                raise NotFoundError(f"{layer} {edit.code} does not exist; create it with POST instead")
            row = {"code": edit.code, **edit.properties, "geometry": edit.geometry}
            if edit.code in frame.index and "version" in frame.columns:
                row["version"] = frame.at[edit.code, "version"]
            present.add(edit.code)
            drop.add(edit.code)
            rows[edit.code] = row
        kept = frame.drop(index=[c for c in drop if c in frame.index])
        if rows:
            new = gpd.GeoDataFrame(list(rows.values()), geometry="geometry", crs=STORAGE_CRS)
            new.index = pd.Index(list(rows), name=None)
            kept = gpd.GeoDataFrame(pd.concat([kept, new]) if len(kept) else new, geometry="geometry", crs=STORAGE_CRS)
        out[layer] = kept
    return out


def _by_code(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    frame.index = pd.Index(frame["code"].astype(str).values, name=None)
    return frame
