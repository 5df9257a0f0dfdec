"""Hierarchy checks: each kind of problem is found, located and measured; the sample city is clean."""

from __future__ import annotations

import math

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from gridgis.crs import STORAGE_CRS
from gridgis.errors import CRSError
from gridgis.io import read_city
from gridgis.layers import LAYERS, normalize_frame
from gridgis.layers.hierarchy import HierarchyReport, check_city

LON0, LAT0 = 121.52, 31.23
DX = 1 / (111_320 * math.cos(math.radians(LAT0)))  # degrees of longitude per metre
DY = 1 / 110_900


def m(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle given in metres east/north of (LON0, LAT0), in lon/lat."""
    return box(LON0 + x0 * DX, LAT0 + y0 * DY, LON0 + x1 * DX, LAT0 + y1 * DY)


def frame(layer: str, rows: list[dict]) -> gpd.GeoDataFrame:
    return normalize_frame(LAYERS[layer], gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS))


C1, C2 = "310115005039", "310115005045"


def clean_city() -> dict[str, gpd.GeoDataFrame]:
    """One street, two communities, three grids, six micro-grids, a compound with two buildings, a station."""
    grids = [
        (f"{C1}001", C1, (0, 0, 100, 200)),
        (f"{C1}002", C1, (100, 0, 200, 200)),
        (f"{C2}001", C2, (200, 0, 400, 200)),
    ]
    micro = []
    for code, _, (x0, y0, x1, y1) in grids:
        mid = (y0 + y1) / 2
        micro += [
            {"code": f"{code}01", "name": f"{code}-1", "grid_code": code, "geometry": m(x0, mid, x1, y1)},
            {"code": f"{code}02", "name": f"{code}-2", "grid_code": code, "geometry": m(x0, y0, x1, mid)},
        ]
    return {
        "streets": frame("streets", [{"code": "310115005000", "name": "陆家嘴街道", "geometry": m(0, 0, 400, 200)}]),
        "communities": frame(
            "communities",
            [
                {
                    "code": C1,
                    "name": "崂山二村居委会",
                    "street_code": "310115005000",
                    "households": 1500,
                    "geometry": m(0, 0, 200, 200),
                },
                {
                    "code": C2,
                    "name": "乳山二村居委会",
                    "street_code": "310115005000",
                    "households": 1500,
                    "geometry": m(200, 0, 400, 200),
                },
            ],
        ),
        "grids": frame(
            "grids",
            [
                {"code": c, "name": f"网格{c[-3:]}", "community_code": p, "households": 400, "geometry": m(*xy)}
                for c, p, xy in grids
            ],
        ),
        "micro_grids": frame("micro_grids", micro),
        "compounds": frame(
            "compounds",
            [
                {
                    "code": f"{C1}Q001",
                    "name": "崂山五村",
                    "community_code": C1,
                    "kind": "aging",
                    "households": 100,
                    "geometry": m(10, 10, 90, 90),
                }
            ],
        ),
        "buildings": frame(
            "buildings",
            [
                {
                    "code": f"{C1}Q001B001",
                    "name": "1号楼",
                    "compound_code": f"{C1}Q001",
                    "community_code": C1,
                    "households": 60,
                    "geometry": m(20, 20, 40, 40),
                },
                {
                    "code": f"{C1}Q001B002",
                    "name": "2号楼",
                    "compound_code": f"{C1}Q001",
                    "community_code": C1,
                    "households": 40,
                    "geometry": m(50, 20, 70, 40),
                },
            ],
        ),
        "stations": frame(
            "stations",
            [
                {
                    "code": f"{C1}S001",
                    "name": "崂山二村党群服务中心",
                    "kind": "party_mass_centre",
                    "area_code": C1,
                    "geometry": Point(LON0 + 50 * DX, LAT0 + 150 * DY),
                }
            ],
        ),
    }


def replace(city, layer, code, **changes):
    f = city[layer].copy()
    i = f.index[f["code"] == code][0]
    for k, v in changes.items():
        if k == "geometry":
            f.loc[i, "geometry"] = v
        else:
            f.loc[i, k] = v
    city[layer] = f
    return city


def kinds(report: HierarchyReport) -> dict[str, int]:
    return report.counts


def test_a_clean_city_has_no_problems():
    report = check_city(clean_city())
    assert report.ok and report.problems == []
    assert "No problems" in report.summary() and report.to_frame().empty
    assert report.features["grids"] == 3


def test_a_compound_reaching_into_the_next_community_is_outside_its_parent_and_measured():
    city = replace(clean_city(), "compounds", f"{C1}Q001", geometry=m(150, 10, 250, 90))
    report = check_city(city)
    found = [p for p in report.problems if p.kind == "outside_parent"]
    assert [p.layer for p in found] == ["compounds", "buildings", "buildings"]  # its buildings stayed behind
    assert found[0].details["area_m2"] == pytest.approx(49 * 80, rel=0.03)  # beyond the 1 m tolerance
    assert "310115005039Q001 (崂山五村)" == found[0].feature
    lon = found[0].where[0]
    assert LON0 + 200 * DX < lon < LON0 + 250 * DX


def test_a_child_within_the_tolerance_is_not_reported():
    city = replace(clean_city(), "compounds", f"{C1}Q001", geometry=m(10, 10, 200.5, 90))
    assert "outside_parent" not in check_city(city, tolerance_m=1.0).counts
    assert "outside_parent" in check_city(city, tolerance_m=0.1).counts


def test_a_station_far_from_its_community_is_reported_with_its_distance():
    city = replace(clean_city(), "stations", f"{C1}S001", geometry=Point(LON0 + 300 * DX, LAT0 + 150 * DY))
    (p,) = [p for p in check_city(city).problems if p.kind == "outside_parent"]
    assert p.layer == "stations" and p.details["value"] == pytest.approx(100, rel=0.03)


def test_a_gap_between_grids_is_located_and_measured():
    city = replace(clean_city(), "grids", f"{C1}002", geometry=m(100, 0, 190, 200))
    report = check_city(city)
    gaps = [p for p in report.problems if p.kind == "coverage_gap"]
    grid_gaps = [p for p in gaps if p.details["child_layer"] == "grids"]
    assert len(grid_gaps) == 1 and grid_gaps[0].layer == "communities"
    assert grid_gaps[0].details["area_m2"] == pytest.approx(10 * 200, rel=0.03)
    assert LON0 + 190 * DX < grid_gaps[0].where[0] < LON0 + 200 * DX
    frame_ = report.to_frame()
    gap_row = frame_[(frame_["kind"] == "coverage_gap") & (frame_["layer"] == "communities")].iloc[0]
    assert gap_row.geometry.geom_type == "Polygon" and frame_.crs.to_epsg() == 4326


def test_a_community_without_grids_is_one_whole_gap():
    city = clean_city()
    city["grids"] = city["grids"][city["grids"]["community_code"] == C1]
    city["micro_grids"] = city["micro_grids"][city["micro_grids"]["grid_code"].str.startswith(C1)]
    gaps = [p for p in check_city(city).problems if p.kind == "coverage_gap"]
    assert len(gaps) == 1 and gaps[0].details["area_m2"] == pytest.approx(200 * 200, rel=0.03)


def test_overlapping_grids_are_located_and_measured():
    city = replace(clean_city(), "grids", f"{C1}001", geometry=m(0, 0, 120, 200))
    overlaps = [p for p in check_city(city).problems if p.kind == "coverage_overlap" and p.layer == "grids"]
    assert len(overlaps) == 1
    assert overlaps[0].details["area_m2"] == pytest.approx(20 * 200, rel=0.03)
    assert {overlaps[0].details["code"], overlaps[0].details["other"]} == {f"{C1}001", f"{C1}002"}


def test_micro_grids_that_do_not_cover_their_grid_are_found():
    city = replace(clean_city(), "micro_grids", f"{C1}00101", geometry=m(0, 100, 100, 180))
    gaps = [p for p in check_city(city).problems if p.kind == "coverage_gap"]
    assert [(p.layer, p.details["code"]) for p in gaps] == [("grids", f"{C1}001")]


def test_misaligned_shared_edges_are_reported_as_coverage_edges():
    x0, x1 = LON0 + 100 * DX, LON0 + 200 * DX
    y0, ymid, y1 = LAT0, LAT0 + 100 * DY, LAT0 + 200 * DY
    # the same square, but its west edge carries a vertex its neighbour's edge does not have
    bent = Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, ymid)])
    city = replace(clean_city(), "grids", f"{C1}002", geometry=bent)
    report = check_city(city, min_area_m2=0.5)
    assert "coverage_edge" in report.counts
    assert "coverage_overlap" not in report.counts


def test_orphans_are_found_when_the_parent_code_does_not_exist():
    city = clean_city()
    extra = city["grids"].iloc[[0]].copy()
    extra["code"], extra["community_code"] = "310115005099001", "310115005099"
    city["grids"] = gpd.GeoDataFrame(gpd.pd.concat([city["grids"], extra], ignore_index=True), crs=STORAGE_CRS)
    orphans = [p for p in check_city(city).problems if p.kind == "orphan"]
    assert [(p.layer, p.details["code"], p.details["parent"]) for p in orphans] == [
        ("grids", "310115005099001", "310115005099")
    ]


def test_duplicate_codes_are_found():
    city = clean_city()
    dup = city["compounds"].copy()
    city["compounds"] = gpd.GeoDataFrame(gpd.pd.concat([city["compounds"], dup], ignore_index=True), crs=STORAGE_CRS)
    dups = [p for p in check_city(city).problems if p.kind == "duplicate_code"]
    assert len(dups) == 1 and dups[0].details["code"] == f"{C1}Q001"


def test_a_code_that_disagrees_with_its_parent_field_is_found():
    city = replace(clean_city(), "grids", f"{C2}001", community_code=C1)
    mism = [p for p in check_city(city).problems if p.kind == "parent_mismatch"]
    assert [p.details["code"] for p in mism] == [f"{C2}001"]


def test_household_ranges_are_checked_and_configurable():
    city = replace(clean_city(), "communities", C1, households=900)
    city = replace(city, "grids", f"{C1}001", households=250)
    city = replace(city, "grids", f"{C1}002", households=0, kind="dedicated", dedicated_for="school")
    report = check_city(city)
    assert report.counts == {"community_households": 1, "grid_households": 1}
    (g,) = [p for p in report.problems if p.kind == "grid_households"]
    assert g.details["code"] == f"{C1}001" and "below" in g.message
    relaxed = check_city(city, grid_households=(200, 500), community_households=(800, 3000))
    assert relaxed.ok


def test_compound_households_must_equal_the_sum_of_its_buildings():
    city = replace(clean_city(), "compounds", f"{C1}Q001", households=120)
    (p,) = check_city(city).problems
    assert p.kind == "compound_households" and p.details == {
        "code": f"{C1}Q001",
        "name": "崂山五村",
        "value": 120,
        "buildings": 100,
        "message_zh": "登记户数 120，楼栋合计 100，请核对",
    }


def test_report_serialises_to_dict_and_a_qgis_layer(tmp_path):
    city = replace(clean_city(), "grids", f"{C1}001", geometry=m(0, 0, 120, 200))
    report = check_city(city)
    d = report.to_dict()
    assert d["ok"] is False and d["counts"] == report.counts and d["problems"][0]["kind"]
    out = tmp_path / "problems.gpkg"
    report.to_frame().to_file(out, driver="GPKG")
    back = gpd.read_file(out)
    assert len(back) == len(report.problems) and set(back["kind"]) == set(report.counts)
    assert "覆盖重叠" in report.summary() and "coverage overlap" in report.summary()


def test_a_frame_in_another_crs_is_refused():
    city = clean_city()
    city["grids"] = city["grids"].to_crs(3857)
    with pytest.raises(CRSError):
        check_city(city)


def test_the_sample_city_has_only_its_deliberate_household_problems(sample_dir):
    report = check_city(read_city(sample_dir))
    assert set(report.counts) <= {"community_households", "grid_households"}
    assert report.counts["community_households"] == 2
    assert shapely.Point(report.problems[0].where).within(
        shapely.union_all(read_city(sample_dir, layers=("streets",))["streets"].geometry.values)
    )


def test_a_building_outside_every_compound_is_checked_against_its_community():
    city = clean_city()
    loose = city["buildings"].iloc[[0]].copy()
    loose["code"], loose["compound_code"] = f"{C1}Q000B001", None
    loose["geometry"] = [m(150, 150, 170, 170)]
    city["buildings"] = gpd.GeoDataFrame(gpd.pd.concat([city["buildings"], loose], ignore_index=True), crs=STORAGE_CRS)
    assert check_city(city).ok
    city["buildings"].loc[2, "geometry"] = m(250, 150, 270, 170)  # now in the other community
    (p,) = check_city(city).problems
    assert p.kind == "outside_parent" and p.details["parent"] == C1


def test_a_sub_millimetre_spike_between_grids_is_a_coverage_edge():
    """The concurrency run's defect: a move left a 0.2 mm spike that only `gridgis check` saw."""
    x0, x1 = LON0 + 100 * DX, LON0 + 200 * DX
    y0, ymid, y1 = LAT0, LAT0 + 100 * DY, LAT0 + 200 * DY
    spiked = Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, ymid + 1e-9), (x0 - 0.0002 * DX, ymid), (x0, ymid)])
    city = replace(clean_city(), "grids", f"{C1}002", geometry=spiked)
    report = check_city(city)
    edges = [p for p in report.problems if p.kind == "coverage_edge"]
    assert {p.details["code"] for p in edges} == {f"{C1}001", f"{C1}002"}
    assert "coverage_overlap" not in report.counts


def recode(city, layer, old, new):
    f = city[layer].copy()
    f.loc[f["code"] == old, "code"] = new
    city[layer] = f
    return city


def test_malformed_codes_are_reported_naming_the_feature():
    city = recode(clean_city(), "grids", f"{C2}001", "31011500504500A")
    city = recode(city, "micro_grids", f"{C1}00101", f"{C1}0011")
    bad = [p for p in check_city(city).problems if p.kind == "malformed_code"]
    assert sorted((p.layer, p.details["code"]) for p in bad) == [
        ("grids", "31011500504500A"),
        ("micro_grids", f"{C1}0011"),
    ]
    assert all("15 digits" in p.message or "17 digits" in p.message for p in bad)


def test_a_grid_whose_code_prefix_differs_from_its_community_code_is_reported():
    city = recode(clean_city(), "grids", f"{C1}002", f"{C2}002")
    mism = [p for p in check_city(city).problems if p.kind == "parent_mismatch"]
    assert [(p.layer, p.details["code"], p.details["parent"]) for p in mism] == [("grids", f"{C2}002", C1)]


def test_check_reports_a_grid_in_detached_parts_a_neighbour_borders_but_not_an_island():
    """The one contiguity rule in `gridgis check`: the edit path refuses a grid cut in two; a store
    imported with one is told about it (and a part bordering only the community's edge is an island)."""
    import shapely
    from shapely.geometry import box

    from gridgis.layers.hierarchy import check_city
    from gridgis.sample.tiny import COMMUNITY_A, tiny_city

    city = tiny_city()
    g1, g2 = COMMUNITY_A + "001", COMMUNITY_A + "002"
    grids = city["grids"].set_index("code", drop=False)
    grids.loc[g2, "geometry"] = shapely.MultiPolygon(
        [box(116.405, 39.900, 116.410, 39.904), box(116.405, 39.905, 116.410, 39.910)]
    )
    grids.loc[g1, "geometry"] = shapely.union(
        box(116.400, 39.900, 116.405, 39.910), box(116.405, 39.904, 116.410, 39.905)
    )
    city["grids"] = grids.reset_index(drop=True)
    city.pop("micro_grids")
    found = [p for p in check_city(city).problems if p.kind == "disconnected"]
    assert [(p.layer, p.details["code"]) for p in found] == [("grids", g2)]
    assert found[0].details["parts_m2"][0] > 100_000 and found[0].where is not None
    assert check_city(tiny_city()).counts.get("disconnected") is None
