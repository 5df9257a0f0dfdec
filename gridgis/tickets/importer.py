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

import pandas as pd

from gridgis.errors import MalformedInputError, NotFoundError
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
    """Read a ticket file; a frame with ``lon``, ``lat`` (in the file's CRS) and the attribute columns."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"ticket file {path} does not exist")
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except UnicodeDecodeError:
            raise MalformedInputError(f"{path}: not UTF-8; save it as UTF-8") from None
        missing = {"lon", "lat"} - set(frame.columns)
        if missing:
            raise MalformedInputError(f"{path}: a CSV of tickets needs lon and lat columns (missing {sorted(missing)})")
        return frame
    import geopandas as gpd

    try:
        gdf = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several types for unreadable files
        raise MalformedInputError(f"{path}: cannot read the ticket file ({exc.__class__.__name__}: {exc})") from None
    if gdf.crs is not None and crs is None and gdf.crs.to_epsg() not in (4326, 4490):
        gdf = gdf.to_crs("EPSG:4326")
    frame = pd.DataFrame(gdf.drop(columns="geometry"))
    points = gdf.geometry
    frame["lon"] = [g.x if g is not None and not g.is_empty and g.geom_type == "Point" else math.nan for g in points]
    frame["lat"] = [g.y if g is not None and not g.is_empty and g.geom_type == "Point" else math.nan for g in points]
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


def reports_from_frame(frame: pd.DataFrame, crs: str = "wgs84") -> list[dict[str, Any]]:
    """One :meth:`TicketStore.create` argument dict per row (bad values are left for the store to refuse)."""
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
