"""analyze and its report: per-community and city figures, the problems layer, JSON/GeoPackage output."""

from __future__ import annotations

import json

import geopandas as gpd
import shapely
from alignment_synth import COMMUNITY, METRIC, X0, Y0, city

from gridgis.alignment.report import analyze, write_json, write_layer


def test_report_counts_cases_cut_compounds_and_coverage_defects_per_community():
    c = city(per_building=5)
    grids = c["grids"].to_crs(METRIC)
    g2 = grids.index[grids["code"] == f"{COMMUNITY}002"][0]
    grids.loc[g2, "geometry"] = shapely.box(X0 + 230, Y0, X0 + 400, Y0 + 600)  # a 30 m gap
    a = analyze(c["compounds"], grids.to_crs("EPSG:4326"), c["buildings"], c["communities"])
    s = a.summary(COMMUNITY)
    assert s["defects"]["coverage_gap"] == 1 and s["defects_zh"]["网格间空隙"] == 1
    assert s["compounds"] == 5 and s["cut_compounds"] == s["small_cut_compounds"]
    report = a.report()
    assert report["city"]["coverage_ok"] is False
    assert report["communities"][0]["code"] == COMMUNITY
    kinds = set(a.problems["kind"])
    assert "coverage_gap" in kinds and kinds & {"cut_piece", "minor_piece"}


def test_cut_compound_list_names_every_piece_with_grid_area_and_households():
    c = city(rects=[(100, 20, 300, 180)], per_building=5)
    a = analyze(c["compounds"], c["grids"], c["buildings"])
    [cut] = a.cut_compounds()
    assert cut["code"] == f"{COMMUNITY}Q001" and cut["status"] == "cut"
    assert sorted(p["grid"] for p in cut["pieces"]) == [f"{COMMUNITY}001", f"{COMMUNITY}002"]
    assert sum(p["households"] for p in cut["pieces"]) == cut["households"]
    assert all(p["area_m2"] > 0 for p in cut["pieces"])


def test_problems_and_report_are_written_for_qgis_in_utf8(tmp_path):
    c = city(per_building=5)
    a = analyze(c["compounds"], c["grids"], c["buildings"], c["communities"])
    write_json(a.report(), tmp_path / "report.json")
    assert "网格大、小区小" in (tmp_path / "report.json").read_text(encoding="utf-8")
    for name in ("problems.geojson", "problems.gpkg"):
        back = gpd.read_file(write_layer(a.problems, tmp_path / name))
        assert len(back) == len(a.problems) and back.crs.to_epsg() == 4326
        assert set(back["kind_zh"]) <= {"小区被切出的部分", "小区被切出的小块"}
    json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))


def test_a_compound_reaching_outside_every_grid_reports_its_piece_there_as_no_grid_in_strict_json():
    """A compound crossing the community line (its outer piece in no grid loaded) gave a NaN grid in the
    cut-compound list, which the API could not send (500 on the real Lujiazui case)."""
    c = city(rects=[(20, 20, 280, 180), (350, 100, 700, 300)])
    analysis = analyze(c["compounds"], c["grids"], c["buildings"], c["communities"])
    pieces = [p for comp in analysis.cut_compounds() for p in comp["pieces"]]
    assert any(p["grid"] is None for p in pieces), pieces
    json.dumps(analysis.report(), allow_nan=False, default=str)
