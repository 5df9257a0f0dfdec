"""The repository contract (implemented on SQLite and PostGIS).

Boundaries are versioned by *generations* (as mapit does): every accepted write creates a
new generation (id, created_at, author, message); a feature version row has
``generation_low`` (first generation it is in) and ``generation_high`` (last one, NULL while
current). Nothing is overwritten in place; any generation or date can be read back.

Frames in and out are layer frames (see :mod:`gridgis.layers`): EPSG:4326 lon/lat, the
layer's columns plus ``geometry``; reads add ``version`` (an integer per feature that grows
with each change of that feature: the basis of ETags and optimistic locking).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Generation:
    id: int
    created_at: datetime
    author: str
    message: str


class Repository:  # pragma: no cover - replaced by the implementation
    """Placeholder until the storage implementation lands."""

    def __init__(self, url: str) -> None:
        self.url = url
        raise NotImplementedError("storage is being implemented")
