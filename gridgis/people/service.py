"""The people area's operations shared by the API and the CLI (one path for both shells).

- :func:`coverage_report` — the responsibility check over the store (optionally for an area);
- :func:`points_ledger` — the points ledger for a period, per organisation (with its sub-organisations);
- :func:`assessment_table` — the four indices for a period, per area or per worker;
- :func:`export_roster` — build, optionally pseudonymise, write and audit a roster.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pandas as pd

from gridgis.errors import ValidationError
from gridgis.people.responsibility import CoverageReport, check_coverage


def coverage_report(store: Any, area: str | None = None, limits: dict[str, int] | None = None) -> CoverageReport:
    placer = store.placer
    b = placer.buildings
    micro = [m for m in placer.index.m_code[:-1].tolist() if m]
    if area:
        from gridgis.people.roster import _in_area

        # by micro-grid, and by grid and community (a building outside any micro-grid still belongs to its grid)
        b = b[
            _in_area(b["micro_grid_code"].fillna("").astype(str), area)
            | _in_area(b["grid_code"].fillna("").astype(str), area)
            | (b["community_code"] == area)
        ]
        micro = [m for m in micro if _in_area(pd.Series([m]), area).iloc[0]]
    return check_coverage(b, store.assignments_frame(area), micro, limits)


def org_subtree(store: Any, org: str) -> set[str]:
    """The codes of an organisation and every organisation below it."""
    rows = store.orgs()
    children: dict[str | None, list[str]] = {}
    for r in rows:
        children.setdefault(r["parent_code"], []).append(r["code"])
    if org not in {r["code"] for r in rows}:
        from gridgis.errors import NotFoundError

        raise NotFoundError(f"organisation {org} does not exist")
    out, todo = set(), [org]
    while todo:
        c = todo.pop()
        out.add(c)
        todo += children.get(c, [])
    return out


def points_ledger(
    store: Any,
    period: str,
    org: str | None = None,
    area: str | None = None,
    rules: str | None = None,
    pseudonymise: bool = False,
) -> pd.DataFrame:
    from gridgis.people.access import pseudonym
    from gridgis.people.points import ledger, load_rules

    acts = store.activities_frame(area)
    if org:
        acts = acts[acts["org_code"].isin(org_subtree(store, org))]
    frame = ledger(acts, period, load_rules(rules) if rules else None)
    if pseudonymise and "name" in frame.columns:
        salt = secrets.token_hex(8)  # a fresh salt per export: pseudonyms cannot be joined across exports
        frame = frame.assign(name=[pseudonym(n, salt) for n in frame["name"]])
    return frame


def assessment_table(
    store: Any, period: str, level: str = "grid", workers: bool = False, config: str | None = None
) -> pd.DataFrame:
    from gridgis.people.assessment import load_config, monthly_indices, per_worker, summarise, ticket_frame

    if level not in ("grid", "micro_grid"):
        raise ValidationError(f"assessment level {level!r}: use grid or micro_grid")
    layer = store.placer.city["grids" if level == "grid" else "micro_grids"]
    households = dict(
        zip(layer["code"].astype(str), pd.to_numeric(layer.get("households", 0), errors="coerce").fillna(0).astype(int))
    )
    cfg = load_config(config) if config else None
    monthly = monthly_indices(ticket_frame(store.engine), households, level=level, config=cfg)
    table = summarise(monthly, period, level=level, config=cfg)
    return per_worker(table, layer, level) if workers else table


def build_roster_dict(
    store: Any, area: str, kind: str, pseudonymise: bool = False, all_members: bool = False
) -> dict[str, Any]:
    from gridgis.people.roster import build_roster
    from gridgis.people.roster import pseudonymise as pseudo

    data = build_roster(store, area, kind, all_members=all_members).to_dict()
    return pseudo(data, secrets.token_hex(8)) if pseudonymise else data


def export_roster(
    store: Any,
    area: str,
    kind: str,
    out: Path,
    *,
    pseudonymise: bool = False,
    all_members: bool = False,
    principal: Any = None,
    method: str = "CLI",
    path: str = "gridgis roster",
) -> dict[str, int]:
    """Build the roster and write it by ``out``'s suffix (.xlsx, .html, .json, .geojson: the map layer); audited as an export."""
    import json

    from gridgis.people.roster import write_html, write_xlsx

    suffix = Path(out).suffix.lower()
    if suffix not in (".xlsx", ".html", ".json", ".geojson"):
        raise ValidationError(f"roster output {out}: use .xlsx, .html, .json or .geojson")
    data = build_roster_dict(store, area, kind, pseudonymise, all_members)
    if suffix == ".xlsx":
        write_xlsx(data, out)
    elif suffix == ".html":
        write_html(data, store.placer.city["micro_grids"], out)
    elif suffix == ".geojson":
        from gridgis.people.roster import roster_geojson

        Path(out).write_text(roster_geojson(data, store.placer.city["micro_grids"]), encoding="utf-8")
    else:
        Path(out).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    store.audit(
        principal,
        "export-roster",
        [area],
        f"{kind} → {Path(out).name} pseudonymised={pseudonymise}",
        method=method,
        path=path,
    )
    return data["summary"]


__all__ = ["assessment_table", "build_roster_dict", "coverage_report", "export_roster", "org_subtree", "points_ledger"]
