"""The party-organisation structure that mirrors the spatial one, suggested per cluster.

The practice's rule (seed 001, "3 situations"):

- compound larger than grid (小区大、网格小): a compound general branch (小区党总支) with a grid
  branch (网格党支部) for each grid the compound spans;
- grid larger than compound (网格大、小区小): a grid general branch (网格党总支) with a compound
  branch (小区党支部, or a 小区党小组 for a compound under ``branch_households``);
- about equal (规模相当): one merged compound(grid) branch (小区(网格)党支部);

with building party groups (楼栋党小组) below, under the community party committee (社区党委).
A grid without compounds gets a grid branch. Output: a tree per community (JSON-ready) and a table.

The rule is applied per compound and per grid, so a cluster mixing the cases is complete too: a
compound reaching several grids gets one compound general branch with a grid branch per grid it
reaches; a grid holding two or more whole compounds gets a grid general branch; a grid holding
one whole compound gets the merged branch; every building appears in exactly one building group.

Output structure (stable; persisted by the people service). Every node is a dict::

    {"type": str,            # a key of LABELS
     "label": str,           # LABELS[type], e.g. "小区党总支"
     "name": str,            # e.g. "阳光小区党总支", "3号楼党小组"
     "compounds": [str],     # compound codes the organisation covers
     "grids": [str],         # grid codes it covers
     "households": int,
     "children": [node],
     "code": str}            # only on community_committee (community code) and building_group
                             # (building code)

Depths: 0 community_committee → 1 compound_general_branch | grid_general_branch | merged_branch |
grid_branch → 2 grid_branch | compound_branch | compound_group | building_group → 3 building_group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from gridgis.alignment._frames import require_frame, text_column
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.overlap import assign_buildings
from gridgis.alignment.report import Analysis, analyze
from gridgis.codes import area_of

LABELS: dict[str, str] = {
    "community_committee": "社区党委",
    "compound_general_branch": "小区党总支",
    "grid_general_branch": "网格党总支",
    "grid_branch": "网格党支部",
    "compound_branch": "小区党支部",
    "compound_group": "小区党小组",
    "merged_branch": "小区(网格)党支部",
    "building_group": "楼栋党小组",
}

TABLE_COLUMNS = [
    "community_code",
    "depth",
    "type",
    "label",
    "name",
    "parent",
    "compounds",
    "grids",
    "households",
    "buildings",
]


@dataclass
class PartyStructure:
    """Suggested organisation: ``trees`` by community code, and the same as a flat ``table``."""

    trees: dict[str, dict[str, Any]]
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"communities": list(self.trees.values())}


def _committee(name: str) -> str:
    return f"{name}党委" if name.endswith("社区") else f"{name}社区党委"


def _node(kind: str, name: str, compounds=(), grids=(), households: int = 0, children=None, **extra) -> dict:
    return {
        "type": kind,
        "label": LABELS[kind],
        "name": name,
        "compounds": list(compounds),
        "grids": list(grids),
        "households": int(households),
        "children": list(children or []),
        **extra,
    }


def party_structure(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    config: AlignmentConfig | None = None,
    analysis: Analysis | None = None,
    branch_households: int = 100,
) -> PartyStructure:
    """Suggest the party-organisation structure for every community.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Layer frames (EPSG:4326); ``name`` is used for the organisations' names.
    buildings : GeoDataFrame, optional
        Buildings give the building party groups (楼栋党小组) and the household counts.
    communities : GeoDataFrame, optional
        Community names for the committees.
    analysis : Analysis, optional
        A ready :func:`~gridgis.alignment.report.analyze` result for the same layers.
    branch_households : int
        Below this many households a compound under a grid general branch gets a party group
        (党小组) rather than a branch (党支部).

    Returns
    -------
    PartyStructure
    """
    config = config or AlignmentConfig()
    grids = require_frame(grids, "grids")
    compounds = require_frame(compounds, "compounds")
    analysis = analysis or analyze(compounds, grids, buildings, communities, config)
    cname = dict(zip(compounds["code"].astype(str), text_column(compounds, "name")))
    gname = dict(zip(grids["code"].astype(str), text_column(grids, "name")))
    comm_name = (
        dict(zip(communities["code"].astype(str), text_column(communities, "name"))) if communities is not None else {}
    )
    pieces = analysis.pieces
    real = pieces[~pieces["sliver"].astype(bool) & pieces["grid_code"].notna()] if len(pieces) else pieces
    hh = {(r.compound_code, r.grid_code): int(r.households) for r in real.itertuples()} if len(real) else {}
    # buildings per (compound, grid) and per grid outside compounds
    per_piece: dict[tuple[str | None, str | None], list[tuple[str, str, int]]] = {}
    if buildings is not None and len(buildings):
        assigned = assign_buildings(buildings, grids, compounds)
        numbers = text_column(buildings, "number")
        names = text_column(buildings, "name")
        for (code, g, c, h), num, nm in zip(
            assigned[["code", "grid_code", "compound_code", "households"]].itertuples(index=False), numbers, names
        ):
            c = c if isinstance(c, str) and c else None  # outside every compound (NaN in the frame)
            g = g if isinstance(g, str) and g else None  # outside every grid
            per_piece.setdefault((c, g), []).append((str(code), num or nm or str(code), int(h)))

    def building_groups(compound: str | None, grid: str) -> list[dict]:
        return [
            _node("building_group", f"{label}党小组", [compound] if compound else [], [grid], h, code=code)
            for code, label, h in sorted(per_piece.get((compound, grid), []))
        ]

    def c_label(c: str) -> str:
        return cname.get(c) or c

    def g_label(g: str) -> str:
        return gname.get(g) or g

    trees: dict[str, dict[str, Any]] = {}
    placed: set[tuple[str | None, str | None]] = set()  # (compound, grid) keys whose buildings have a group

    def groups_of(compound: str | None, grid: str) -> list[dict]:
        placed.add((compound, grid))
        return building_groups(compound, grid)

    def total(kids: list[dict], fallback: int = 0) -> int:
        return sum(k["households"] for k in kids) if kids else fallback

    # the grids each compound reaches: real (non-sliver) pieces, and any grid one of its buildings is in
    reach: dict[str, set[str]] = {}
    for c, g in hh:
        reach.setdefault(c, set()).add(g)
    for c, g in per_piece:
        if c is not None and g is not None:
            reach.setdefault(c, set()).add(g)
    grid_node: dict[str, dict] = {}  # the node holding a grid's buildings outside compounds
    clusters = analysis.clusters.sort_values("cluster") if len(analysis.clusters) else analysis.clusters
    for row in clusters.itertuples():
        community = row.community_code or "unknown"
        tree = trees.setdefault(
            community, _node("community_committee", _committee(comm_name.get(community) or community), code=community)
        )
        cs, gs = list(row.compounds), list(row.grids)
        # 1. a compound reaching several grids: ONE compound general branch, a grid branch per grid
        spanning = [c for c in cs if len(reach.get(c, ())) > 1]
        for c in spanning:
            branches = []
            for g in sorted(reach[c]):
                kids = groups_of(c, g)
                branches.append(
                    _node(
                        "grid_branch", f"{c_label(c)}{g_label(g)}党支部", [c], [g], total(kids, hh.get((c, g), 0)), kids
                    )
                )
            tree["children"].append(
                _node(
                    "compound_general_branch",
                    f"{c_label(c)}党总支",
                    [c],
                    sorted(reach[c]),
                    sum(b["households"] for b in branches),
                    branches,
                )
            )
        # 2. every grid with the compounds wholly in it
        for g in gs:
            whole = [c for c in cs if reach.get(c) == {g}]
            if len(whole) >= 2:
                subs = []
                for c in whole:
                    kids = groups_of(c, g)
                    h = total(kids, hh.get((c, g), 0))
                    kind = "compound_branch" if h >= branch_households else "compound_group"
                    suffix = "党支部" if kind == "compound_branch" else "党小组"
                    subs.append(_node(kind, f"{c_label(c)}{suffix}", [c], [g], h, kids))
                subs += groups_of(None, g)
                node = _node("grid_general_branch", f"{g_label(g)}党总支", whole, [g], total(subs), subs)
            elif len(whole) == 1:
                c = whole[0]
                kids = groups_of(c, g) + groups_of(None, g)
                node = _node(
                    "merged_branch", f"{c_label(c)}({g_label(g)})党支部", [c], [g], total(kids, hh.get((c, g), 0)), kids
                )
            else:
                kids = groups_of(None, g)
                if not kids and any(g in reach.get(c, ()) for c in spanning):
                    continue  # the grid's branches sit under the compound general branches
                node = _node("grid_branch", f"{g_label(g)}党支部", [], [g], total(kids), kids)
            tree["children"].append(node)
            grid_node[g] = node
    # 3. buildings not placed yet (their compound's piece in that grid is a sliver, or the compound
    #    is in no cluster) join the node of their grid, so every building appears exactly once
    grid_comm = dict(zip(grids["code"].astype(str), text_column(grids, "community_code")))
    for c, g in sorted(per_piece, key=lambda k: (str(k[1]), str(k[0]))):
        if (c, g) in placed or g is None:
            continue
        kids = groups_of(c, g)
        holder = grid_node.get(g)
        if holder is None:
            community = grid_comm.get(g) or area_of(str(g))
            tree = trees.setdefault(
                community,
                _node("community_committee", _committee(comm_name.get(community) or community), code=community),
            )
            holder = _node("grid_branch", f"{g_label(g)}党支部", [], [g], 0, [])
            tree["children"].append(holder)
            grid_node[g] = holder
        holder["children"] += kids
        holder["households"] += sum(k["households"] for k in kids)
    for tree in trees.values():
        tree["households"] = sum(k["households"] for k in tree["children"])
    rows: list[dict[str, Any]] = []

    def flatten(node: dict, depth: int, parent: str | None, community: str) -> None:
        rows.append(
            {
                "community_code": community,
                "depth": depth,
                "type": node["type"],
                "label": node["label"],
                "name": node["name"],
                "parent": parent,
                "compounds": ",".join(node["compounds"]),
                "grids": ",".join(node["grids"]),
                "households": node["households"],
                "buildings": sum(1 for k in node["children"] if k["type"] == "building_group"),
            }
        )
        for child in node["children"]:
            flatten(child, depth + 1, node["name"], community)

    for community, tree in sorted(trees.items()):
        flatten(tree, 0, None, community)
    return PartyStructure(trees=dict(sorted(trees.items())), table=pd.DataFrame(rows, columns=TABLE_COLUMNS))
