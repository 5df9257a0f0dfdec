"""Classify compound–grid clusters into the practice's three cases and find the defects.

A *cluster* is a connected component of the graph whose nodes are compounds and grids and whose
edges are their non-sliver overlaps. The practice (seed 001) recognises three situations:

- ``compound_larger`` 小区大、网格小: one compound spans several grids;
- ``grid_larger`` 网格大、小区小: one grid holds several whole compounds;
- ``about_equal`` 规模相当: one compound, one grid.

A cluster with several compounds *and* several grids (``mixed``) is given the case of its
majority (more grids than compounds → ``compound_larger``, more compounds → ``grid_larger``).
A grid with no compound forms its own cluster, ``no_compound`` 无小区.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.codes import area_of

CASES: dict[str, str] = {
    "compound_larger": "小区大、网格小",
    "grid_larger": "网格大、小区小",
    "about_equal": "规模相当",
    "no_compound": "网格内无小区",
}

STATUSES: dict[str, str] = {
    "whole": "完整",
    "cut": "被网格线切割",
    "cut_minor": "被切出小块",
    "no_grid": "无网格",
    "large_split": "大型小区按楼栋划分",
}


def compound_status(pieces: gpd.GeoDataFrame, config=None) -> pd.DataFrame:
    """The status of every compound from its pieces.

    Returns
    -------
    DataFrame
        One row per compound: ``compound_code``, ``compound_name``, ``community_code``, ``status``
        (``whole``, ``cut``, ``cut_minor``, ``no_grid``, or ``large_split`` for a large compound
        divided along building lines with no building cut), ``status_zh``, ``grids`` (list),
        ``main_grid``, ``households``, ``area_m2``, ``minor_area_m2``, ``minor_households``,
        ``uncovered_m2`` and ``pieces`` (list of ``{grid, area_m2, households, buildings}``).
    """
    from gridgis.alignment.config import AlignmentConfig

    config = config or AlignmentConfig()
    columns = [
        "compound_code",
        "compound_name",
        "community_code",
        "status",
        "status_zh",
        "grids",
        "main_grid",
        "households",
        "area_m2",
        "minor_area_m2",
        "minor_households",
        "uncovered_m2",
        "pieces",
    ]
    if not len(pieces):
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(pieces.drop(columns=pieces.geometry.name))
    df["grid_code"] = df["grid_code"].where(df["grid_code"].notna(), None)
    real = ~df["sliver"].astype(bool)
    gridded = real & df["grid_code"].notna()
    main = (
        df[gridded]
        .sort_values(["compound_code", "households", "area_m2", "grid_code"], ascending=[True, False, False, True])
        .drop_duplicates("compound_code")
        .set_index("compound_code")["grid_code"]
    )
    df["main_grid"] = df["compound_code"].map(main)
    minor = gridded & (df["grid_code"] != df["main_grid"])
    df["minor_area"] = np.where(minor, df["area_m2"], 0.0)
    df["minor_hh"] = np.where(minor, df["households"], 0)
    df["uncovered"] = np.where(real & df["grid_code"].isna(), df["area_m2"], 0.0)
    df["n_gridded"] = gridded.astype(int)
    df["n_minor"] = minor.astype(int)
    agg = df.groupby("compound_code", sort=True).agg(
        compound_name=("compound_name", "first"),
        community_code=("community_code", "first"),
        households=("households", "sum"),
        area_m2=("area_m2", "sum"),
        minor_area_m2=("minor_area", "sum"),
        minor_households=("minor_hh", "sum"),
        uncovered_m2=("uncovered", "sum"),
        n_gridded=("n_gridded", "sum"),
        n_minor=("n_minor", "sum"),
        main_grid=("main_grid", "first"),
        cut_buildings=("cut_buildings", "first") if "cut_buildings" in df.columns else ("n_minor", "first"),
    )
    grids: dict[str, list[str]] = {}
    plist: dict[str, list[dict]] = {}
    for r in df.itertuples(index=False):
        g = r.grid_code if isinstance(r.grid_code, str) else None  # a piece in no grid: None, never NaN
        if g is not None and not r.sliver:
            grids.setdefault(r.compound_code, []).append(str(g))
        plist.setdefault(r.compound_code, []).append(
            {
                "grid": g,
                "area_m2": float(r.area_m2),
                "households": int(r.households),
                "buildings": int(r.buildings),
                "sliver": bool(r.sliver),
            }
        )
    small = (agg["minor_area_m2"] < config.minor_share * agg["area_m2"].clip(lower=1e-9)) & (
        agg["minor_households"] <= config.minor_share * agg["households"]
    )
    status = np.where(
        agg["n_gridded"] == 0, "no_grid", np.where(agg["n_minor"] > 0, np.where(small, "cut_minor", "cut"), "whole")
    )
    if "cut_buildings" in df.columns:
        large_split = (agg["n_minor"] > 0) & (agg["households"] > config.large_households) & (agg["cut_buildings"] == 0)
        status = np.where(large_split, "large_split", status)
    out = agg.reset_index()
    out["status"] = status
    out["status_zh"] = [STATUSES[s] for s in status]
    out["grids"] = [sorted(set(grids.get(c, []))) for c in out["compound_code"]]
    out["pieces"] = [plist[c] for c in out["compound_code"]]
    out["main_grid"] = out["main_grid"].where(out["main_grid"].notna(), None)
    out["households"] = out["households"].astype(int)
    out["minor_households"] = out["minor_households"].astype(int)
    for col in ("area_m2", "minor_area_m2", "uncovered_m2"):
        out[col] = out[col].round(3)
    return out[columns]


def _components(edges: list[tuple[str, str]], nodes: list[str]) -> list[list[str]]:
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for n in nodes:
        groups.setdefault(find(n), []).append(n)
    return [sorted(g) for _, g in sorted(groups.items())]


def classify_clusters(pieces: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """The connected compound–grid clusters and their case.

    Parameters
    ----------
    pieces : GeoDataFrame
        From :func:`gridgis.alignment.overlap.compound_grid_overlaps`.
    grids : GeoDataFrame
        The grids (``code``, optional ``community_code``); grids without compounds form their own cluster.

    Returns
    -------
    DataFrame
        ``cluster`` (number), ``case``, ``case_zh``, ``mixed``, ``compounds``, ``grids`` (lists of codes),
        ``households`` (in the compounds) and ``community_code``.
    """
    real = pieces[(~pieces["sliver"].astype(bool)) & pieces["grid_code"].notna()] if len(pieces) else pieces
    comp_nodes = sorted({"C:" + str(c) for c in real["compound_code"]}) if len(real) else []
    grid_codes = [str(c) for c in grids["code"]]
    nodes = comp_nodes + ["G:" + c for c in sorted(grid_codes)]
    edges = (
        [("C:" + str(c), "G:" + str(g)) for c, g in zip(real["compound_code"], real["grid_code"])] if len(real) else []
    )
    hh_by_comp = real.groupby("compound_code")["households"].sum() if len(real) else pd.Series(dtype=int)
    comm_by_grid = dict(zip(grid_codes, grids["community_code"])) if "community_code" in grids.columns else {}
    rows = []
    for k, comp in enumerate(_components(edges, nodes), start=1):
        cs = [n[2:] for n in comp if n.startswith("C:")]
        gs = [n[2:] for n in comp if n.startswith("G:")]
        if not cs:
            case = "no_compound"
        elif len(gs) > len(cs):
            case = "compound_larger"
        elif len(cs) > len(gs):
            case = "grid_larger"
        else:
            case = "about_equal"
        community = next((comm_by_grid.get(g) for g in gs if comm_by_grid.get(g)), None)
        if community is None and cs:
            community = area_of(str(cs[0]))
        rows.append(
            {
                "cluster": k,
                "case": case,
                "case_zh": CASES[case],
                "mixed": len(cs) > 1 and len(gs) > 1,
                "compounds": cs,
                "grids": gs,
                "households": int(sum(hh_by_comp.get(c, 0) for c in cs)),
                "community_code": community,
            }
        )
    return pd.DataFrame(
        rows, columns=["cluster", "case", "case_zh", "mixed", "compounds", "grids", "households", "community_code"]
    )


def case_counts(clusters: pd.DataFrame) -> dict[str, int]:
    """Number of clusters per case (every case present, zero when absent)."""
    counts = {case: 0 for case in CASES}
    if len(clusters):
        for case, n in clusters["case"].value_counts().items():
            counts[str(case)] = int(n)
    return counts


def status_counts(status: pd.DataFrame) -> dict[str, int]:
    """Number of compounds per status."""
    counts = {s: 0 for s in STATUSES}
    if len(status):
        for s, n in status["status"].value_counts().items():
            counts[str(s)] = int(n)
    return counts
