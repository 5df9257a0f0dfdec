"""Star points for members and volunteers: "一月一算分、一季一评星、半年一兑换、一年一奖评".

Rules live in a YAML file (default :file:`points.yaml` next to this module; a county's own file
replaces it): per county (6-digit code, the first 6 of a community code) the scored items with
points and a monthly cap, the quarterly star thresholds, the half-year redemption and the yearly
awards. Computations are pure functions over an activities frame (``person_id``, ``item``, ``at``
(aware), ``quantity``, ``community_code``, ``org_code``, ``name``):

- :func:`monthly_scores` — Σ points × quantity per item, each item capped per month;
- :func:`quarterly_stars` — the quarter's points against the thresholds (highest first);
- :func:`half_year_redemption` — points earned in the half year, redeemed (``redemption`` activities,
  quantity = points), still redeemable (at most ``max_share`` of those earned) and their value;
- :func:`yearly_awards` — members with enough stars in enough quarters, the top share by points.

Calendar: months and quarters are counted in Asia/Shanghai (a time without zone is refused).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from gridgis.codes import county_of
from gridgis.errors import ValidationError

TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_RULES = Path(__file__).with_name("points.yaml")


@lru_cache(maxsize=8)
def load_rules(path: str | None = None) -> dict[str, Any]:
    """The rules per county from ``path`` (default :data:`DEFAULT_RULES`), checked."""
    p = Path(path) if path else DEFAULT_RULES
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValidationError(f"points rules {p}: cannot be read ({err})") from None
    if not isinstance(raw, dict) or "default" not in raw:
        raise ValidationError(f"points rules {p}: need a 'default' entry (and optional 6-digit county entries)")
    for county, rules in raw.items():
        for key in ("items", "stars", "redemption", "awards"):
            if key not in rules:
                raise ValidationError(f"points rules {p}, county {county}: missing {key!r}")
        for item, spec in rules["items"].items():
            if "points" not in spec:
                raise ValidationError(f"points rules {p}, county {county}, item {item}: missing 'points'")
    return {str(k): v for k, v in raw.items()}


def rules_for(county: str | None, rules: dict[str, Any] | None = None) -> dict[str, Any]:
    rules = rules or load_rules()
    if not county:  # no place given: the default items
        return rules["default"]
    return rules.get(county_of(str(county)), rules["default"])


def check_item(item: str, rules: dict[str, Any] | None = None) -> str:
    items = rules_for(None, rules)["items"]
    if item not in items:
        raise ValidationError(f"unknown activity item {item!r}; use one of {', '.join(items)}")
    return item


def _prepared(activities: pd.DataFrame) -> pd.DataFrame:
    a = activities.copy()
    at = pd.to_datetime(a["at"], utc=True)
    local = at.dt.tz_convert(TZ)
    a["month"] = local.dt.strftime("%Y-%m")
    a["quarter"] = local.dt.year.astype(str) + "Q" + local.dt.quarter.astype(str)
    a["half"] = local.dt.year.astype(str) + "H" + ((local.dt.month > 6).astype(int) + 1).astype(str)
    a["year"] = local.dt.year.astype(str)
    a["county"] = a["community_code"].fillna("").astype(str).map(county_of)
    return a


def monthly_scores(activities: pd.DataFrame, rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """Points per person and month (capped per item): columns person_id, name, org_code, month, points, items."""
    cols = ["person_id", "name", "org_code", "community_code", "month", "points", "items"]
    if len(activities) == 0:
        return pd.DataFrame(columns=cols)
    rules = rules or load_rules()
    a = _prepared(activities)
    a = a[a["item"] != "redemption"]
    g = a.groupby(["person_id", "month", "item", "county"], as_index=False)["quantity"].sum()
    pts = []
    for county, item, qty in zip(g["county"], g["item"], g["quantity"]):
        spec = rules_for(county, rules)["items"].get(item, {"points": 0})
        raw = float(spec["points"]) * float(qty)
        cap = spec.get("monthly_cap")
        pts.append(min(raw, float(cap)) if cap else raw)
    g["points"] = pts
    per = g.groupby(["person_id", "month"], as_index=False).agg(
        points=("points", "sum"), items=("item", lambda s: ",".join(sorted(set(s))))
    )
    who = a.drop_duplicates("person_id").set_index("person_id")
    per["name"] = per["person_id"].map(who["name"])
    per["org_code"] = per["person_id"].map(who["org_code"])
    per["community_code"] = per["person_id"].map(who["community_code"])
    return per[cols].sort_values(["month", "person_id"]).reset_index(drop=True)


def stars_of(points: float, thresholds: list[list[float]]) -> int:
    """Stars for a quarter's points (thresholds highest first).

    >>> stars_of(33, [[40, 5], [30, 4], [20, 3]]), stars_of(5, [[40, 5], [30, 4]])
    (4, 0)
    """
    for need, stars in thresholds:
        if points >= need:
            return int(stars)
    return 0


def quarterly_stars(monthly: pd.DataFrame, rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """Stars per person and quarter from :func:`monthly_scores`."""
    cols = ["person_id", "name", "org_code", "community_code", "quarter", "points", "stars"]
    if len(monthly) == 0:
        return pd.DataFrame(columns=cols)
    rules = rules or load_rules()
    m = monthly.copy()
    y = m["month"].str[:4]
    q = ((m["month"].str[5:7].astype(int) - 1) // 3 + 1).astype(str)
    m["quarter"] = y + "Q" + q
    out = m.groupby(["person_id", "quarter"], as_index=False).agg(
        points=("points", "sum"),
        name=("name", "first"),
        org_code=("org_code", "first"),
        community_code=("community_code", "first"),
    )
    out["stars"] = [
        stars_of(p, rules_for(c, rules)["stars"]) for p, c in zip(out["points"], out["community_code"].fillna(""))
    ]
    return out[cols]


def half_year_redemption(activities: pd.DataFrame, half: str, rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per person for ``half`` ("2026H1"): points earned, redeemed, redeemable and its value in yuan."""
    cols = ["person_id", "name", "org_code", "earned", "redeemed", "redeemable", "value_yuan"]
    if len(half) != 6 or half[4] != "H" or half[5] not in "12":
        raise ValidationError(f"half year {half!r} is not YYYYH1 or YYYYH2 (e.g. 2026H1)")
    if len(activities) == 0:
        return pd.DataFrame(columns=cols)
    rules = rules or load_rules()
    a = _prepared(activities)
    a = a[a["half"] == half]
    monthly = monthly_scores(activities[activities.index.isin(a.index)], rules)
    earned = monthly.groupby("person_id")["points"].sum()
    redeemed = a[a["item"] == "redemption"].groupby("person_id")["quantity"].sum()
    who = a.drop_duplicates("person_id").set_index("person_id")
    rows = []
    for pid in sorted(set(earned.index) | set(redeemed.index)):
        spec = rules_for(who.at[pid, "community_code"] if pid in who.index else None, rules)["redemption"]
        e, r = float(earned.get(pid, 0.0)), float(redeemed.get(pid, 0.0))
        left = max(0.0, e * float(spec.get("max_share", 1.0)) - r)
        rows.append(
            (pid, who["name"].get(pid), who["org_code"].get(pid), e, r, left, left * float(spec.get("value_yuan", 1.0)))
        )
    return pd.DataFrame(rows, columns=cols)


def yearly_awards(monthly: pd.DataFrame, year: str, rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """The year's awarded members: enough stars in enough quarters, then the top share by points (ties by id)."""
    cols = ["person_id", "name", "org_code", "points", "star_quarters", "rank"]
    m = monthly[monthly["month"].str.startswith(str(year))] if len(monthly) else monthly
    if len(m) == 0:
        return pd.DataFrame(columns=cols)
    rules = rules or load_rules()
    stars = quarterly_stars(m, rules)
    spec = rules["default"]["awards"]
    good = stars[stars["stars"] >= int(spec["min_stars"])].groupby("person_id").size()
    totals = m.groupby("person_id").agg(
        points=("points", "sum"), name=("name", "first"), org_code=("org_code", "first")
    )
    totals["star_quarters"] = good.reindex(totals.index).fillna(0).astype(int)
    eligible = totals[totals["star_quarters"] >= int(spec["min_quarters"])]
    eligible = eligible.reset_index().sort_values(["points", "person_id"], ascending=[False, True])
    n = max(1, int(round(len(totals) * float(spec["top_share"])))) if len(eligible) else 0
    top = eligible.head(n).copy()
    top["rank"] = range(1, len(top) + 1)
    return top[cols].reset_index(drop=True)


def ledger(activities: pd.DataFrame, period: str, rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """The ledger for a period: a month (YYYY-MM), quarter (YYYYQn), half year (YYYYHn) or year (YYYY)."""
    monthly = monthly_scores(activities, rules)
    if len(period) == 7 and period[4] == "-":
        return monthly[monthly["month"] == period].reset_index(drop=True)
    if len(period) == 6 and period[4] == "Q":
        s = quarterly_stars(monthly, rules)
        return s[s["quarter"] == period].reset_index(drop=True)
    if len(period) == 6 and period[4] == "H":
        return half_year_redemption(activities, period, rules)
    if len(period) == 4 and period.isdigit():
        return yearly_awards(monthly, period, rules)
    raise ValidationError(f"period {period!r} is not YYYY-MM, YYYYQn, YYYYHn or YYYY")


__all__ = [
    "DEFAULT_RULES",
    "check_item",
    "half_year_redemption",
    "ledger",
    "load_rules",
    "monthly_scores",
    "quarterly_stars",
    "rules_for",
    "stars_of",
    "yearly_awards",
]
