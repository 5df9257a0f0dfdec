"""Reading ticket files (GeoJSON, GeoPackage, CSV with lon/lat) into reports for :meth:`TicketStore.create_many`.

Recognised columns (others are kept in the ticket's ``extra``): ``id``/``external_id``,
``matter_code``, ``title``, ``description``, ``channel``, ``reported_at``/``received_at``,
``address``, ``reporter``; the point is the geometry (or ``lon``/``lat`` columns in a CSV).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridgis.errors import CRSError, NotFoundError
from gridgis.tickets.calendar import SHANGHAI

_KNOWN = {
    "id",
    "external_id",
    "matter_code",
    "title",
    "description",
    "channel",
    "reported_at",
    "received_at",
    "address",
    "reporter",
    "lon",
    "lat",
    "geometry",
}


def read_ticket_file(path: str | Path, crs: str | None = None) -> pd.DataFrame:
    """Read a ticket file: a frame with ``lon``, ``lat`` and the attribute columns.

    The coordinates' CRS is never guessed (:func:`gridgis.routing.files.read_points`, the one rule for
    point files): a CSV needs ``crs``; GeoJSON is WGS84 unless it says otherwise; a GeoPackage says its
    own. The CRS used is kept in ``frame.attrs["crs"]`` for :func:`reports_from_frame`.
    """
    from gridgis.routing.files import read_points

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"ticket file {path} does not exist")
    raw, x, y, src = read_points(path, "lon", "lat", crs)
    frame = pd.DataFrame(raw.drop(columns=raw.geometry.name) if isinstance(raw, gpd.GeoDataFrame) else raw)
    frame["lon"], frame["lat"] = x, y
    frame.attrs["crs"] = src
    return frame


def _time(value: Any) -> datetime | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)  # local reports without an offset are Beijing time
    return value


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def reports_from_frame(frame: pd.DataFrame, crs: str | None = None) -> list[dict[str, Any]]:
    """One :meth:`TicketStore.create` argument dict per row (bad values are left for the store to refuse).

    ``crs`` defaults to the one :func:`read_ticket_file` read the file in.
    """
    crs = crs or frame.attrs.get("crs")
    if crs is None:
        raise CRSError("say which CRS the tickets' lon/lat are in (crs=…)")
    reports = []
    for row in frame.to_dict("records"):
        title, desc = _text(row.get("title")), _text(row.get("description"))
        description: str | None
        if title and desc and title not in desc:
            description = f"{title}：{desc}"
        else:
            description = desc or title
        try:
            received = _time(row.get("reported_at", row.get("received_at")))
        except ValueError:
            received = None
        extra = {k: _text(v) for k, v in row.items() if k not in _KNOWN and _text(v) is not None}
        if title:
            extra["title"] = title
        reports.append(
            {
                "lon": row.get("lon"),
                "lat": row.get("lat"),
                "crs": crs,
                "matter_code": _text(row.get("matter_code")),
                "description": description or "",
                "address": _text(row.get("address")),
                "channel": _text(row.get("channel")) or "import",
                "reporter": _text(row.get("reporter")),
                "external_id": _text(row.get("external_id", row.get("id"))),
                "received_at": received,
                "extra": extra or None,
            }
        )
    return reports
