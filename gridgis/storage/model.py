"""The small value types of the storage API: generations and feature changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

#: ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326
BBox = tuple[float, float, float, float]
#: what a :class:`FeatureChange` (and an editing :class:`~gridgis.editing.changes.Edit`) does: the one
#: vocabulary of changes in gridgis, the words of OGC API – Features Part 4 (create, replace, delete)
ChangeOp = Literal["create", "replace", "delete"]
CHANGE_OPS: tuple[ChangeOp, ...] = get_args(ChangeOp)


@dataclass(frozen=True)
class Generation:
    """One accepted write: its id (grows with time), UTC time, author and message."""

    id: int
    created_at: datetime
    author: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "author": self.author,
            "message": self.message,
        }


@dataclass(frozen=True)
class FeatureChange:
    """One change of one feature, for :meth:`Repository.apply_changes`.

    ``properties`` holds ``name`` and any of the layer's fields. For ``create`` they are the
    whole feature (missing optional fields take their default) and ``geometry`` is required.
    For ``replace``, fields left out (and a ``None`` geometry) keep their stored values.
    ``expected_version``, when given, must equal the stored version or the whole batch is
    refused with :class:`~gridgis.errors.PreconditionFailedError`.
    """

    layer: str
    op: ChangeOp
    code: str
    properties: Mapping[str, Any] | None = None
    geometry: Any = None
    expected_version: int | None = None

    @classmethod
    def from_row(
        cls,
        layer: str,
        row: Mapping[str, Any],
        op: ChangeOp = "replace",
        expected_version: int | None = None,
    ) -> FeatureChange:
        """A change from a frame row or a feature dict (``code``, ``name``, fields, ``geometry``)."""
        skip = {"code", "geometry", "version", "layer", "parent_code", "generation_low", "generation_high"}
        props = {k: v for k, v in row.items() if k not in skip}
        return cls(layer, op, str(row["code"]), props, row.get("geometry"), expected_version)

    @property
    def label(self) -> str:
        return f"{self.layer} {self.code}"
