"""Analysis reports per community and for the whole city, and the layer of problem pieces.

:func:`analyze` runs the overlap, classification and coverage checks in one go; the result gives a
JSON-ready report (:meth:`Analysis.report`) and a problems layer a planner can open in QGIS.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.alignment._frames import require_frame, text_column
from gridgis.alignment.classify import CASES, STATUSES, case_counts, classify_clusters, compound_status, status_counts
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.overlap import compound_grid_overlaps
from gridgis.alignment.validate import CoverageReport, validate_coverage
from gridgis.codes import area_of
from gridgis.crs import metric_crs_for

PROBLEM_KINDS: dict[str, str] = {
    "cut_piece": "小区被切出的部分",
    "minor_piece": "小区被切出的小块",
    "no_grid": "小区无网格覆盖",
    "coverage_gap": "网格间空隙",
    "coverage_overlap": "网格重叠",
    "outside_area": "网格超出社区",
    "invalid_edge": "网格边界不吻合",
}

_DEFECT_ZH = {
    "coverage_gap": "网格间空隙",
    "coverage_overlap": "网格重叠",
    "outside_area": "网格超出社区",
    "invalid_edge": "网格边界不吻合",
    "cut": "小区被网格线切割",
    "cut_minor": "小区被切出小块",
    "no_grid": "小区无网格",
}

PROBLEM_COLUMNS = [
    "kind",
    "kind_zh",
    "community_code",
    "compound_code",
    "compound_name",
    "grid_code",
    "area_m2",
    "households",
    "message",
    "geometry",
]


@dataclass
class Analysis:
    """The overlap analysis of a set of grids against compounds (see :func:`analyze`)."""

    pieces: gpd.GeoDataFrame
    compounds: pd.DataFrame
    clusters: pd.DataFrame
    coverage: CoverageReport
    problems: gpd.GeoDataFrame
    grid_communities: dict[str, str]
    config: AlignmentConfig

    def cut_compounds(self) -> list[dict[str, Any]]:
        """Every compound cut by a grid line, with its pieces (grid, area m², households)."""
        if not len(self.compounds):
            return []
        cut = self.compounds[self.compounds["status"].isin(["cut", "cut_minor", "large_split"])]
        return [
            {
                "code": r.compound_code,
                "name": r.compound_name,
                "community_code": r.community_code,
                "status": r.status,
                "status_zh": r.status_zh,
                "households": int(r.households),
                "area_m2": float(r.area_m2),
                "main_grid": r.main_grid,
                "pieces": [p for p in r.pieces if not p["sliver"]],
            }
            for r in cut.itertuples()
        ]

    def summary(self, community: str | None = None) -> dict[str, Any]:
        """Counts per case and per compound status, for one community or (``None``) the city."""
        comps = self.compounds
        clusters = self.clusters
        if community is not None:
            comps = comps[comps["community_code"] == community] if len(comps) else comps
            clusters = clusters[clusters["community_code"] == community] if len(clusters) else clusters
        statuses = status_counts(comps)
        small_cut = statuses["cut"] + statuses["cut_minor"]
        problems = self.problems
        if community is not None and len(problems):
            problems = problems[problems["community_code"] == community]
        kinds = problems["kind"].value_counts().to_dict() if len(problems) else {}
        defects = {
            k: int(kinds.get(k, 0)) for k in ("coverage_gap", "coverage_overlap", "outside_area", "invalid_edge")
        }
        defects |= {"cut": statuses["cut"], "cut_minor": statuses["cut_minor"], "no_grid": statuses["no_grid"]}
        return {
            "compounds": len(comps),
            "clusters": len(clusters),
            "cases": case_counts(clusters),
            "cases_zh": {CASES[k]: v for k, v in case_counts(clusters).items()},
            "statuses": statuses,
            "statuses_zh": {STATUSES[k]: v for k, v in statuses.items()},
            "cut_compounds": small_cut + statuses["large_split"],
            "small_cut_compounds": small_cut,
            "households": int(comps["households"].sum()) if len(comps) else 0,
            "defects": defects,
            "defects_zh": {_DEFECT_ZH[k]: v for k, v in defects.items()},
        }

    def report(self) -> dict[str, Any]:
        """The JSON-ready report: the city summary, each community, the cut compounds and the coverage."""
        communities = sorted(
            {c for c in self.grid_communities.values() if c}
            | ({c for c in self.compounds["community_code"] if c} if len(self.compounds) else set())
        )
        cut = self.cut_compounds()
        return {
            "city": self.summary()
            | {"communities": len(communities), "grids": len(self.grid_communities), "coverage_ok": self.coverage.ok},
            "communities": [
                {"code": c, **self.summary(c), "cut_compound_list": [x for x in cut if x["community_code"] == c]}
                for c in communities
            ],
            "coverage": self.coverage.to_dict(),
            "config": asdict(self.config),
        }


def _community_of(code: str | None, fallback: str | None) -> str | None:
    if fallback:
        return fallback
    return area_of(code) if isinstance(code, str) and len(code) >= 12 else None


def problems_layer(
    pieces: gpd.GeoDataFrame, status: pd.DataFrame, coverage: CoverageReport, grid_communities: dict[str, str]
) -> gpd.GeoDataFrame:
    """The problem pieces as one EPSG:4326 layer (:data:`PROBLEM_COLUMNS`), for QGIS."""
    rows, geoms = [], []
    main = dict(zip(status["compound_code"], status["main_grid"])) if len(status) else {}
    st = dict(zip(status["compound_code"], status["status"])) if len(status) else {}
    for r in pieces[~pieces["sliver"].astype(bool)].itertuples() if len(pieces) else []:
        s = st.get(r.compound_code)
        if r.grid_code is None or (isinstance(r.grid_code, float) and np.isnan(r.grid_code)):
            kind, msg = "no_grid", f"{r.area_m2:.0f} m² of compound {r.compound_code} lie in no grid"
        elif s in ("cut", "cut_minor") and r.grid_code != main.get(r.compound_code):
            kind = "minor_piece" if s == "cut_minor" else "cut_piece"
            msg = (
                f"{r.area_m2:.0f} m², {r.households} households of compound {r.compound_code} lie in grid "
                f"{r.grid_code}, not in {main.get(r.compound_code)}"
            )
        else:
            continue
        rows.append(
            {
                "kind": kind,
                "kind_zh": PROBLEM_KINDS[kind],
                "community_code": _community_of(r.compound_code, r.community_code),
                "compound_code": r.compound_code,
                "compound_name": r.compound_name,
                "grid_code": None if kind == "no_grid" else r.grid_code,
                "area_m2": float(r.area_m2),
                "households": int(r.households),
                "message": msg,
            }
        )
        geoms.append(r.geometry)
    for kind, items in (
        ("coverage_gap", coverage.gaps),
        ("coverage_overlap", coverage.overlaps),
        ("outside_area", coverage.outside),
    ):
        for it in items:
            g0 = it["grids"][0] if it["grids"] else None
            rows.append(
                {
                    "kind": kind,
                    "kind_zh": PROBLEM_KINDS[kind],
                    "community_code": grid_communities.get(g0) if g0 is not None else None,
                    "compound_code": None,
                    "compound_name": None,
                    "grid_code": ",".join(it["grids"]),
                    "area_m2": it["area_m2"],
                    "households": 0,
                    "message": f"{PROBLEM_KINDS[kind]} {it['area_m2']:.1f} m² ({', '.join(it['grids'])})",
                }
            )
            geoms.append(it["geometry"])
    for e in coverage.invalid_edges:
        rows.append(
            {
                "kind": "invalid_edge",
                "kind_zh": PROBLEM_KINDS["invalid_edge"],
                "community_code": grid_communities.get(e["grid"]),
                "compound_code": None,
                "compound_name": None,
                "grid_code": e["grid"],
                "area_m2": 0.0,
                "households": 0,
                "message": f"{e['length_m']:.2f} m of edges of grid {e['grid']} do not match the neighbour",
            }
        )
        geoms.append(e["geometry"])
    return gpd.GeoDataFrame(rows, columns=PROBLEM_COLUMNS[:-1], geometry=geoms if rows else [], crs="EPSG:4326")


def analyze(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    config: AlignmentConfig | None = None,
) -> Analysis:
    """Analyse how grids and compounds fit: pieces, clusters and cases, cut compounds, coverage.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Layer frames in EPSG:4326.
    buildings : GeoDataFrame, optional
        With ``households``: households are counted per building footprint.
    communities : GeoDataFrame, optional
        The areas the grids must cover; without, the union of the grids.
    config : AlignmentConfig, optional

    Returns
    -------
    Analysis
    """
    config = config or AlignmentConfig()
    grids = require_frame(grids, "grids")
    compounds = require_frame(compounds, "compounds")
    crs = metric_crs_for(grids)
    pieces = compound_grid_overlaps(compounds, grids, buildings, config, metric_crs=crs)
    status = compound_status(pieces, config)
    clusters = classify_clusters(pieces, grids)
    coverage = validate_coverage(grids, communities, metric_crs=crs)
    gcomm = text_column(grids, "community_code")
    grid_communities: dict[str, Any] = {
        str(c): (m or _community_of(str(c), None)) for c, m in zip(grids["code"], gcomm)
    }
    problems = problems_layer(pieces, status, coverage, grid_communities)
    return Analysis(
        pieces=pieces,
        compounds=status,
        clusters=clusters,
        coverage=coverage,
        problems=problems,
        grid_communities=grid_communities,
        config=config,
    )


def write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as UTF-8 JSON (Chinese kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, set | tuple):
        return list(value)
    if hasattr(value, "__geo_interface__"):
        return value.__geo_interface__
    return str(value)


def write_layer(frame: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write a layer as GeoJSON (gridgis's writer: the storage's 7 decimals, JSON fields as JSON) or
    GeoPackage (by suffix; lists as JSON text), UTF-8."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() != ".gpkg":
        # not GDAL's: it writes 116.4000009 as 116.4, a whole storage step away (crs.round_to_storage)
        from gridgis.io.geojson import write_geojson

        return write_geojson(frame, path)
    out = frame.copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
    path.unlink(missing_ok=True)
    out.to_file(path, driver="GPKG", engine="pyogrio")
    return path


def proposal_report(before: Analysis, after: Analysis, proposal) -> dict[str, Any]:
    """The figures of a proposal: the analysis before and after, the impact and the explanations."""
    impact = proposal.impact.to_dict(orient="records") if len(proposal.impact) else []
    return {
        "before": before.report(),
        "after": after.report(),
        "city": {
            "cut_compounds_before": before.summary()["cut_compounds"],
            "cut_compounds_after": after.summary()["cut_compounds"],
            "small_cut_compounds_before": before.summary()["small_cut_compounds"],
            "small_cut_compounds_after": after.summary()["small_cut_compounds"],
            "grids_before": len(before.grid_communities),
            "grids_after": len(after.grid_communities),
            "pieces_moved": len(proposal.changes),
            "grids_split": sum(st["op"] == "split" for st in getattr(proposal, "restructured", [])),
            "grids_merged": sum(st["op"] == "merge" for st in getattr(proposal, "restructured", [])),
            "coverage_ok_after": proposal.coverage_after.ok,
            "compactness": dict(getattr(proposal, "compactness", {}) or {}),
        },
        "impact": impact,
        "explanations": proposal.explanations,
        "restructured": list(getattr(proposal, "restructured", [])),
        "coverage_before": proposal.coverage_before.to_dict(),
        "coverage_after": proposal.coverage_after.to_dict(),
    }
