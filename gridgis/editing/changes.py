"""Proposed edits as plain values, and applying them to layer frames without storing anything.

An :class:`Edit` is one insert, update or delete of one feature of one layer. Operations and
validation work on lists of edits and on layer frames (EPSG:4326); the API and CLI turn the
accepted list into storage changes in one call, so an operation is one generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS
from gridgis.errors import NotFoundError, ValidationError
from gridgis.layers import get_spec

Op = Literal["insert", "update", "delete"]


@dataclass
class Edit:
    """One change of one feature.

    ``properties`` holds the layer's fields (``name`` included, ``code`` excluded); for an
    update it is the complete new set of properties. ``expected_version`` is the version the
    editor saw (``None`` for inserts): a stale one is refused by storage with 412.
    """

    layer: str
    op: Op
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
    if isinstance(value, float) and value != value:
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
    :class:`NotFoundError` when an update/delete names a code absent from its frame and
    :class:`ValidationError` when an insert reuses an existing code.
    """
    out = {name: _by_code(frame) for name, frame in frames.items()}
    for edit in edits:
        frame = out.get(edit.layer)
        if frame is None:
            from gridgis.layers.base import empty_frame

            frame = empty_frame(get_spec(edit.layer)).set_index("code", drop=False)
        if edit.op == "delete":
            if edit.code not in frame.index:
                raise NotFoundError(f"{edit.layer} {edit.code} does not exist; nothing to delete")
            frame = frame.drop(index=edit.code)
        else:
            exists = edit.code in frame.index
            if edit.op == "insert" and exists:
                raise ValidationError(f"{edit.layer} {edit.code} already exists; choose another code or update it")
            if edit.op == "update" and not exists:
                raise NotFoundError(f"{edit.layer} {edit.code} does not exist; create it with POST instead")
            row = {"code": edit.code, **edit.properties, "geometry": edit.geometry}
            if exists and "version" in frame.columns:
                row["version"] = frame.at[edit.code, "version"]
            new = gpd.GeoDataFrame([row], geometry="geometry", crs=STORAGE_CRS).set_index(
                pd.Index([edit.code]), drop=False)
            frame = frame.drop(index=edit.code) if exists else frame
            frame = pd.concat([frame, new]) if len(frame) else new
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS)
        out[edit.layer] = frame
    return out


def _by_code(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.copy()
    frame.index = pd.Index(frame["code"].astype(str).values, name=None)
    return frame
