"""Per-grid ticket figures by month, for worker assessment and for colouring the map.

For each (grid, month) — the month of ``received_at`` in Asia/Shanghai:

- ``volume``: tickets received, merged duplicates excluded (they count in ``merged``);
- ``resolved``: of those, resolved (resolved, rated or closed, not merged);
- ``on_time``: resolved by the solution deadline and never escalated for being overdue;
- ``on_time_rate`` = on_time / resolved; ``closure_rate`` = closed / volume;
- ``satisfaction``: mean rating (1–5) of the rated ones; ``satisfaction_rate``: share rated 4 or 5;
- ``open`` and ``overdue`` (escalated for lateness) counts.

Rates are None where their denominator is 0, so a map can show "no data" rather than 0 %.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridgis.errors import ValidationError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
LEVEL_COLUMNS = {
    "micro_grid": "micro_grid_code",
    "grid": "grid_code",
    "community": "community_code",
    "street": "street_code",
}


def month_range(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of ``month`` ("YYYY-MM") in ``tz``."""
    m = _MONTH.match(month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"month {month!r} is not YYYY-MM (e.g. 2026-10)")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def summarise(rows: list[dict[str, Any]], *, tz: ZoneInfo, level: str = "grid") -> list[dict[str, Any]]:
    """Figures per (area code at ``level``, month) from ticket rows (dicts with the ticket columns)."""
    if level not in LEVEL_COLUMNS:
        raise ValidationError(f"unknown statistics level {level!r}; use one of {', '.join(LEVEL_COLUMNS)}")
    col = LEVEL_COLUMNS[level]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        month = r["received_at"].astimezone(tz).strftime("%Y-%m")
        groups[(r.get(col) or "", month)].append(r)
    out = []
    for (code, month), rs in sorted(groups.items()):
        merged = [r for r in rs if r.get("close_reason") == "merged"]
        live = [r for r in rs if r.get("close_reason") != "merged"]
        resolved = [r for r in live if r.get("resolved_at") is not None]
        on_time = [
            r
            for r in resolved
            if not r.get("overdue") and (r.get("solve_due") is None or r["resolved_at"] <= r["solve_due"])
        ]
        closed = [r for r in live if r["status"] == "closed"]
        ratings = [int(r["rating"]) for r in live if r.get("rating") is not None]
        out.append(
            {
                f"{level}_code": code,
                "month": month,
                "volume": len(live),
                "merged": len(merged),
                "resolved": len(resolved),
                "on_time": len(on_time),
                "closed": len(closed),
                "open": sum(1 for r in live if r["status"] not in ("resolved", "rated", "closed")),
                "overdue": sum(1 for r in live if r.get("overdue")),
                "rated": len(ratings),
                "on_time_rate": _ratio(len(on_time), len(resolved)),
                "closure_rate": _ratio(len(closed), len(live)),
                "satisfaction": round(sum(ratings) / len(ratings), 2) if ratings else None,
                "satisfaction_rate": _ratio(sum(1 for v in ratings if v >= 4), len(ratings)),
            }
        )
    return out


def statistics_frame(areas: Any, rows: list[dict[str, Any]], level: str = "grid") -> Any:
    """The area frame (e.g. the ``grids`` layer, EPSG:4326) with one month's figures as columns.

    Areas without tickets get volume 0 and empty rates, so a choropleth shows them as "no data".
    ``rows`` must be of one month (``TicketStore.statistics(month)``).
    """
    import pandas as pd

    key = f"{level}_code"
    months = {r["month"] for r in rows}
    if len(months) > 1:
        raise ValidationError(f"statistics of several months ({', '.join(sorted(months))}); pick one month")
    stats = pd.DataFrame(
        rows,
        columns=[
            key,
            "month",
            "volume",
            "merged",
            "resolved",
            "on_time",
            "closed",
            "open",
            "overdue",
            "rated",
            "on_time_rate",
            "closure_rate",
            "satisfaction",
            "satisfaction_rate",
        ],
    )
    out = (
        areas[["code", "name", "geometry"]]
        .merge(stats.drop(columns="month"), how="left", left_on="code", right_on=key)
        .drop(columns=key)
    )
    counts = ["volume", "merged", "resolved", "on_time", "closed", "open", "overdue", "rated"]
    out[counts] = out[counts].fillna(0).astype(int)
    out["month"] = next(iter(months), None)
    return out
