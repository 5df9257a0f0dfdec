"""party_structure: the organisation the practice calls for in each of the three cases."""

from __future__ import annotations

import json

from alignment_synth import city

from gridgis.alignment.party import party_structure
from gridgis.alignment.propose import propose_alignment


def structure(rects, **kw):
    c = city(rects=rects, per_building=kw.pop("per_building", 5), **kw)
    return c, party_structure(c["compounds"], c["grids"], c["buildings"], c["communities"])


def test_about_equal_gives_one_merged_compound_grid_branch_with_building_groups():
    c, ps = structure([(20, 20, 180, 180)])
    tree = ps.trees["110105001001"]
    assert tree["label"] == "社区党委" and tree["name"] == "测试社区党委"
    merged = [n for n in tree["children"] if n["type"] == "merged_branch"]
    assert len(merged) == 1 and merged[0]["label"] == "小区(网格)党支部"
    kids = merged[0]["children"]
    assert kids and all(k["label"] == "楼栋党小组" for k in kids)
    assert len(kids) == len(c["buildings"])


def test_compound_larger_than_grids_gives_a_compound_general_branch_over_grid_branches():
    _, ps = structure([(20, 300, 580, 560)], per_building=1)
    top = [n for n in ps.trees["110105001001"]["children"] if n["type"] == "compound_general_branch"]
    assert len(top) == 1 and top[0]["label"] == "小区党总支"
    assert [k["label"] for k in top[0]["children"]] == ["网格党支部"] * 3


def test_grid_larger_than_compounds_gives_a_grid_general_branch_over_compound_branches():
    _, ps = structure([(20, 20, 180, 180), (20, 300, 180, 560)])
    grid_branch = next(n for n in ps.trees["110105001001"]["children"] if n["type"] == "grid_general_branch")
    assert grid_branch["label"] == "网格党总支"
    assert {k["type"] for k in grid_branch["children"]} <= {"compound_branch", "compound_group"}
    assert len(grid_branch["children"]) == 2


def test_grid_without_compounds_gets_a_grid_branch():
    _, ps = structure([(20, 20, 180, 180)])
    kinds = [n["type"] for n in ps.trees["110105001001"]["children"]]
    assert kinds.count("grid_branch") == 2


def test_table_flattens_the_tree_and_the_tree_is_json():
    _, ps = structure([(20, 20, 180, 180), (320, 40, 580, 260)])
    table = ps.table
    assert table["depth"].min() == 0 and (table["depth"] == 0).sum() == 1
    assert set(table["label"]) >= {"社区党委", "楼栋党小组"}
    assert table.loc[table["depth"] == 1, "parent"].eq("测试社区党委").all()
    text = json.dumps(ps.to_dict(), ensure_ascii=False)
    assert "小区(网格)党支部" in text


def test_after_alignment_every_compound_sits_under_one_grid():
    c = city(per_building=5)
    p = propose_alignment(c["compounds"], c["grids"], c["buildings"], c["communities"])
    ps = party_structure(c["compounds"], p.grids, c["buildings"], c["communities"])
    compound_rows = ps.table[ps.table["type"].isin(["compound_branch", "compound_group", "merged_branch"])]
    assert compound_rows["compounds"].is_unique


def _building_groups(node: dict) -> list[str]:
    own = [node["code"]] if node["type"] == "building_group" else []
    return own + [b for k in node["children"] for b in _building_groups(k)]


def test_a_mixed_cluster_places_every_building_once_and_a_spanning_compound_under_one_general_branch():
    # issue 11: "about equal" used only the first compound and grid of a cluster (417 of 452
    # buildings in the Shenzhen tree) and a compound cut by grid lines sat under 2–3 grid branches.
    # Here compound 1 spans grids 1 and 2, compound 2 lies wholly in grid 2, compound 3 wholly in
    # grid 3, and one building stands outside every compound.
    c, ps = structure([(60, 40, 340, 260), (220, 320, 380, 560), (430, 60, 580, 300)], outside_buildings=True)
    tree = ps.trees["110105001001"]
    placed = _building_groups(tree)
    assert sorted(placed) == sorted(c["buildings"]["code"])  # every building once, none twice
    top = tree["children"]
    spanning = [n for n in top if "110105001001Q001" in n["compounds"]]
    assert [n["type"] for n in spanning] == ["compound_general_branch"]
    general = spanning[0]
    assert [(k["type"], k["grids"]) for k in general["children"]] == [
        ("grid_branch", ["110105001001001"]),
        ("grid_branch", ["110105001001002"]),
    ]
    q1 = c["buildings"][c["buildings"]["compound_code"] == "110105001001Q001"]["code"]
    assert sorted(_building_groups(general)) == sorted(q1)
    whole = {n["compounds"][0]: n["type"] for n in top if n["type"] == "merged_branch"}
    assert whole == {"110105001001Q002": "merged_branch", "110105001001Q003": "merged_branch"}
