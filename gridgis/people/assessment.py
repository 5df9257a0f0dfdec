"""Grid-worker assessment: the four indices per grid (and micro-grid) and month, from ticket data and ratings.

Formulas (weights and coefficients in :file:`assessment.yaml`, replaceable per call):

- **safety** (网格安全指数) = 100 − ``per_100_households`` × (safety matters per 100 households) −
  ``overdue`` × (overdue safety matters), clipped to [0, 100]; safety matters are the catalogue's
  emergency domain (D4) plus the listed matters;
- **environment** (环境优美指数): the same with the environment/property domain (D6) and its matters;
- **service** (服务优良指数) = 100 × (``on_time_weight`` × on-time rate + ``closure_weight`` × closure rate)
  over the month's tickets; a month without tickets scores 100 (nothing left undone);
- **happiness** (群众幸福指数) = 100 × (mean rating − 1) / 4 over rated tickets (ratings 1–5); no ratings → none;
- **total** = Σ weight × index over the indices present, divided by the weights present.

Periods: month (每月一评分); quarter = mean of its months (每季一汇总); half year: the publication table
(半年一晾晒) ranked within each community; year: the mean of its months with a grade (每年一考核).
Calendar: Asia/Shanghai months of the tickets' ``received_at``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml

from gridgis.codes import area_of
from gridgis.errors import ValidationError

TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_CONFIG = Path(__file__).with_name("assessment.yaml")
INDICES = ("safety", "environment", "service", "happiness")


@lru_cache(maxsize=4)
def load_config(path: str | None = None) -> dict[str, Any]:
    p = Path(path) if path else DEFAULT_CONFIG
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValidationError(f"assessment config {p}: cannot be read ({err})") from None
    for key in (*INDICES, "weights", "grades"):
        if key not in cfg:
            raise ValidationError(f"assessment config {p}: missing {key!r}")
    return cfg


def _matters(cfg: dict[str, Any], which: str, catalogue: Any) -> set[str]:
    spec = cfg[which]
    out = set(spec.get("matters", []))
    for item in catalogue.items:
        if item.domain in spec.get("domains", []):
            out.add(item.code)
    return out


def ticket_frame(engine: Any) -> pd.DataFrame:
    """The ticket columns the indices need, from the tickets table."""
    import sqlalchemy as sa

    from gridgis.tickets.tables import tickets as t

    cols = [
        "matter_code",
        "micro_grid_code",
        "grid_code",
        "community_code",
        "received_at",
        "resolved_at",
        "solve_due",
        "overdue",
        "status",
        "rating",
        "close_reason",
    ]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*[t.c[c] for c in cols])).all()
    return pd.DataFrame(rows, columns=cols)


def monthly_indices(
    tickets: pd.DataFrame,
    households: dict[str, int],
    level: str = "grid",
    config: dict[str, Any] | None = None,
    catalogue: Any = None,
    months: list[str] | None = None,
) -> pd.DataFrame:
    """One row per area of ``level`` (grid or micro_grid) and month: the four indices and the total."""
    import sqlalchemy as sa

    from gridgis.tickets.catalogue import default_catalogue
    from gridgis.tickets.stats import count_frame

    cfg = config or load_config()
    catalogue = catalogue or default_catalogue()
    key = f"{level}_code"
    safety, env = _matters(cfg, "safety", catalogue), _matters(cfg, "environment", catalogue)
    # the ticket counts are the monthly statistics' own (one rule: merged duplicates left out, on time,
    # closed, ratings); the assessment adds its matter groups to them
    extra = {
        "safety_n": lambda t: t.c.matter_code.in_(sorted(safety)),
        "safety_overdue": lambda t: sa.and_(t.c.matter_code.in_(sorted(safety)), t.c.overdue.is_(True)),
        "env_n": lambda t: t.c.matter_code.in_(sorted(env)),
        "env_overdue": lambda t: sa.and_(t.c.matter_code.in_(sorted(env)), t.c.overdue.is_(True)),
    }
    counted = count_frame(tickets, tz=TZ, level=level, extra=extra)
    counted = counted[counted["volume"] > 0]  # a month of merged duplicates only has no tickets
    if months is None:
        months = sorted(counted["month"].unique())
    agg = (
        counted.rename(columns={"code": key, "volume": "tickets"})
        .set_index([key, "month"])[
            ["tickets", "safety_n", "safety_overdue", "env_n", "env_overdue", "resolved", "on_time", "closed"]
            + ["rating_sum", "rated"]
        ]
        .astype(float)
    )
    agg.loc[agg["rated"] == 0, "rating_sum"] = np.nan
    index = pd.MultiIndex.from_product([sorted(households), months], names=[key, "month"])
    agg = agg.reindex(index).fillna(
        {
            "tickets": 0,
            "safety_n": 0,
            "safety_overdue": 0,
            "env_n": 0,
            "env_overdue": 0,
            "resolved": 0,
            "on_time": 0,
            "closed": 0,
            "rated": 0,
        }
    )
    hh = np.array([max(households.get(c, 0), 1) for c, _ in agg.index], dtype=float)
    s, e = cfg["safety"], cfg["environment"]
    out = pd.DataFrame(index=agg.index)
    out["tickets"] = agg["tickets"].astype(int)
    out["safety"] = np.clip(
        100 - s["per_100_households"] * agg["safety_n"] / hh * 100 - s["overdue"] * agg["safety_overdue"], 0, 100
    )
    out["environment"] = np.clip(
        100 - e["per_100_households"] * agg["env_n"] / hh * 100 - e["overdue"] * agg["env_overdue"], 0, 100
    )
    sv = cfg["service"]
    on_rate = np.where(agg["resolved"] > 0, agg["on_time"] / agg["resolved"].where(agg["resolved"] > 0, 1), 1.0)
    close_rate = np.where(agg["tickets"] > 0, agg["closed"] / agg["tickets"].where(agg["tickets"] > 0, 1), 1.0)
    out["service"] = 100 * (sv["on_time_weight"] * on_rate + sv["closure_weight"] * close_rate)
    out["happiness"] = np.where(
        agg["rated"] > 0, 100 * (agg["rating_sum"] / agg["rated"].where(agg["rated"] > 0, 1) - 1) / 4, np.nan
    )
    out["total"] = total_of(out, cfg["weights"])
    return out.round(2).reset_index()


def total_of(frame: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """Σ w·index / Σ w over the indices present in each row."""
    num = sum(frame[i].fillna(0) * weights[i] for i in INDICES)
    den = sum(frame[i].notna() * weights[i] for i in INDICES)
    return num / den.where(den > 0, np.nan)


def grade_of(score: float, grades: list[list[Any]]) -> str:
    """The grade of a score (grades highest first).

    >>> grade_of(85, [[90, "优秀"], [80, "良好"], [0, "不合格"]])
    '良好'
    """
    for need, label in grades:
        if score >= need:
            return str(label)
    return str(grades[-1][1])


def summarise(
    monthly: pd.DataFrame, period: str, level: str = "grid", config: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Quarter (YYYYQn: mean of months), half year (YYYYHn: publication table ranked per community) or year (YYYY: graded)."""
    cfg = config or load_config()
    key = f"{level}_code"
    m = monthly.copy()
    mon = m["month"].str[5:7].astype(int)
    if len(period) == 6 and period[4] == "Q" and period[5] in "1234":
        sel = (m["month"].str[:4] == period[:4]) & ((mon - 1) // 3 + 1 == int(period[5]))
    elif len(period) == 6 and period[4] == "H" and period[5] in "12":
        sel = (m["month"].str[:4] == period[:4]) & ((mon > 6).astype(int) + 1 == int(period[5]))
    elif len(period) == 4 and period.isdigit():
        sel = m["month"].str[:4] == period
    elif len(period) == 7 and period[4] == "-":
        return m[m["month"] == period].reset_index(drop=True)
    else:
        raise ValidationError(f"period {period!r} is not YYYY-MM, YYYYQn, YYYYHn or YYYY")
    m = m[sel]
    out = m.groupby(key, as_index=False).agg(
        months=("month", "nunique"), tickets=("tickets", "sum"), **{i: (i, "mean") for i in (*INDICES, "total")}
    )
    out = out.round(2)
    out["community_code"] = out[key].astype(str).map(area_of)
    out["rank_in_community"] = (
        out.groupby("community_code")["total"].rank(ascending=False, method="min").astype("Int64")
    )
    out["grade"] = [grade_of(v, cfg["grades"]) if pd.notna(v) else "" for v in out["total"]]
    out["period"] = period
    return out.sort_values(["community_code", "rank_in_community", key]).reset_index(drop=True)


def per_worker(scores: pd.DataFrame, areas: Any, level: str = "grid") -> pd.DataFrame:
    """Each worker of the areas (``workers`` property of the grids/micro-grids layer) with their area's scores."""
    key = f"{level}_code"
    rows = []
    for code, workers in zip(areas["code"].astype(str), areas["workers"] if "workers" in areas.columns else []):
        if isinstance(workers, str):
            import json

            workers = json.loads(workers)
        for w in workers or []:
            if level == "grid" and w.get("role") != "full_time":
                continue
            rows.append({key: code, "worker": w.get("name"), "role": w.get("role")})
    return pd.DataFrame(rows, columns=[key, "worker", "role"]).merge(scores, on=key, how="left")


def chart_svg(scores: pd.DataFrame, title: str, label_col: str, limit: int = 30) -> str:
    """A grouped bar chart (SVG, no dependency) of the four indices for up to ``limit`` areas, printable."""
    from html import escape

    colours = {"safety": "#d73027", "environment": "#1a9850", "service": "#4575b4", "happiness": "#fdae61"}
    labels = {"safety": "安全", "environment": "环境", "service": "服务", "happiness": "幸福"}
    rows = scores.head(limit)
    bw, gap, h, top, left = 6, 10, 220, 40, 40
    width = left + len(rows) * (4 * bw + gap) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h + top + 90}" font-family="sans-serif" font-size="10">',
        f'<text x="{left}" y="18" font-size="14">{escape(title)}</text>',
    ]
    for k, (i, c) in enumerate(colours.items()):
        parts.append(
            f'<rect x="{left + k * 70}" y="24" width="10" height="10" fill="{c}"/><text x="{left + k * 70 + 14}" y="33">{labels[i]}</text>'
        )
    for y in (0, 50, 100):
        yy = top + h - h * y / 100
        parts.append(
            f'<line x1="{left}" x2="{width}" y1="{yy}" y2="{yy}" stroke="#ccc"/><text x="4" y="{yy + 3}">{y}</text>'
        )
    for j, row in enumerate(rows.itertuples(index=False)):
        x0 = left + j * (4 * bw + gap)
        for k, idx in enumerate(INDICES):
            v = getattr(row, idx)
            if v is not None and pd.notna(v):
                bh = h * float(v) / 100
                parts.append(
                    f'<rect x="{x0 + k * bw}" y="{top + h - bh:.1f}" width="{bw - 1}" height="{bh:.1f}" fill="{colours[idx]}"><title>{escape(str(getattr(row, label_col)))} {labels[idx]} {float(v):.1f}</title></rect>'
                )
        parts.append(
            f'<text transform="translate({x0 + 2 * bw},{top + h + 6}) rotate(60)" font-size="8">{escape(str(getattr(row, label_col))[-6:])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


__all__ = [
    "INDICES",
    "chart_svg",
    "grade_of",
    "load_config",
    "monthly_indices",
    "per_worker",
    "summarise",
    "ticket_frame",
    "total_of",
]
