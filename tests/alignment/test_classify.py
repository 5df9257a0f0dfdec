"""classify_clusters and compound_status: the three cases of practice and the defects."""

from __future__ import annotations

from alignment_synth import city

from gridgis.alignment.classify import case_counts, classify_clusters, compound_status
from gridgis.alignment.overlap import compound_grid_overlaps

G1, G2, G3 = "110105001001001", "110105001001002", "110105001001003"


def analyse(rects, **kw):
    c = city(rects=rects, per_building=kw.pop("per_building", 5), **kw)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"])
    return c, pieces, compound_status(pieces), classify_clusters(pieces, c["grids"])


def test_one_compound_in_one_grid_is_about_equal():
    _, _, status, clusters = analyse([(20, 20, 180, 180)])
    row = clusters[clusters["grids"].map(lambda g: G1 in g)].iloc[0]
    assert row["case"] == "about_equal" and row["case_zh"] == "规模相当"
    assert status["status"].tolist() == ["whole"]


def test_grid_holding_several_whole_compounds_is_grid_larger():
    _, _, status, clusters = analyse([(20, 20, 180, 180), (20, 300, 180, 560)])
    row = clusters[clusters["grids"].map(lambda g: G1 in g)].iloc[0]
    assert row["case"] == "grid_larger" and row["compounds"] == ["110105001001Q001", "110105001001Q002"]
    assert (status["status"] == "whole").all()


def test_compound_spanning_several_grids_is_compound_larger():
    _, _, status, clusters = analyse([(20, 300, 580, 560)], per_building=1)
    row = clusters[clusters["compounds"].map(len) > 0].iloc[0]
    assert row["case"] == "compound_larger" and row["grids"] == [G1, G2, G3]
    assert status["status"].iloc[0] == "cut"


def test_grids_without_compounds_are_their_own_cluster():
    _, _, _, clusters = analyse([(20, 20, 180, 180)])
    counts = case_counts(clusters)
    assert counts["no_compound"] == 2 and counts["about_equal"] == 1


def test_compound_with_a_small_piece_across_the_line_is_cut_minor():
    _, _, status, _ = analyse([(20, 20, 225, 180)])
    row = status.iloc[0]
    assert row["status"] == "cut_minor" and row["main_grid"] == G1
    assert row["minor_area_m2"] < 0.2 * row["area_m2"]


def test_compound_split_in_halves_is_cut_with_both_pieces_listed():
    _, _, status, _ = analyse([(100, 20, 300, 180)])
    row = status.iloc[0]
    assert row["status"] == "cut"
    assert sorted(p["grid"] for p in row["pieces"]) == [G1, G2]


def test_compound_outside_every_grid_has_no_grid():
    c = city(rects=[(20, 20, 180, 180)], per_building=5)
    grids = c["grids"][c["grids"]["code"] != G1]
    pieces = compound_grid_overlaps(c["compounds"], grids, c["buildings"])
    assert compound_status(pieces)["status"].tolist() == ["no_grid"]
    assert classify_clusters(pieces, grids)["case"].tolist() == ["no_compound", "no_compound"]


def test_large_compound_divided_between_buildings_is_large_split():
    # buildings at x = 158+30k…; the line x=200 falls between columns (188–202 crosses, so move it to 205)
    c = city(rects=[(150, 100, 260, 300)], strips=[205, 400], per_building=60)
    pieces = compound_grid_overlaps(c["compounds"], c["grids"], c["buildings"])
    st = compound_status(pieces)
    assert st["status"].tolist() == ["large_split"]
