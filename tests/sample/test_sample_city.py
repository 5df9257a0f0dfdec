"""The sample city generator: deterministic, the expected sizes, valid layers and coverages, cut compounds."""

from __future__ import annotations

import filecmp

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.io import read_city, write_city
from gridgis.layers import LAYERS, check_frame
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.sample import generate_city, generate_ticket_points
from gridgis.sample.city import district_polygon


@pytest.fixture(scope="module")
def city() -> dict[str, gpd.GeoDataFrame]:
    return generate_city(seed=0)


def test_same_seed_gives_byte_identical_files(city, tmp_path):
    first = write_city(city, tmp_path / "a")
    write_city(generate_city(seed=0), tmp_path / "b")
    for path in first:
        assert filecmp.cmp(path, tmp_path / "b" / path.name, shallow=False), path.name


def test_sample_city_command_writes_one_geojson_per_layer_and_another_seed_differs(sample_dir, tmp_path):
    res = CliRunner().invoke(app, ["sample-city", "--seed", "3", "--tickets", "20", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in tmp_path.glob("*.geojson"))
    assert names == sorted(f"{layer}.geojson" for layer in [*LAYERS, "tickets"])
    back = read_city(tmp_path)
    assert len(back["tickets"]) == 20
    from gridgis.sample.population import generate_population, read_population

    people = read_population(tmp_path / "population.json")  # written with the city, the same by its seed
    assert people.persons == generate_population(back, seed=3).persons and len(people.care) > 0
    assert not filecmp.cmp(tmp_path / "compounds.geojson", sample_dir / "compounds.geojson", shallow=False)


def test_ticket_points_are_deterministic_and_inside_the_district():
    lon, lat = generate_ticket_points(20_000, seed=5, scale="small")
    lon2, lat2 = generate_ticket_points(20_000, seed=5, scale="small")
    assert (lon == lon2).all() and (lat == lat2).all() and len(lon) == 20_000
    district, epsg = district_polygon(5, "small")
    x, y = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    assert shapely.contains_xy(district.buffer(0.05), x, y).all()
    hot = np.histogram2d(lon, lat, bins=20)[0]
    assert hot.max() > 3 * hot.mean()  # clustered around hot spots, not uniform


def test_committed_sample_is_what_seed_0_generates(city, sample_dir, tmp_path):
    written = write_city(city, tmp_path)
    for path in written:
        assert filecmp.cmp(path, sample_dir / path.name, shallow=False), (
            f"{path.name} differs: regenerate with `gridgis sample-city --seed 0 --out data/geojson`"
        )


def test_sizes_are_those_of_a_small_district(city):
    n = {k: len(v) for k, v in city.items()}
    assert 3 <= n["streets"] <= 4
    assert n["communities"] == 12
    assert 130 <= n["compounds"] <= 190
    assert 1200 <= n["buildings"] <= 1800
    assert 50 <= n["grids"] <= 90
    assert 4 * n["grids"] <= n["micro_grids"] <= 10 * n["grids"]
    assert 50 <= n["stations"] <= 75
    assert n["tickets"] == 2000


def test_every_layer_passes_its_spec(city):
    for layer, frame in city.items():
        if layer in LAYERS:
            check_frame(LAYERS[layer], frame)


def test_grids_exactly_cover_their_community(city):
    grids = city["grids"]
    for code, geom in zip(city["communities"]["code"], city["communities"].geometry):
        mine = grids.loc[grids["community_code"] == code].geometry.values
        assert shapely.coverage_is_valid(mine), code
        assert shapely.symmetric_difference(shapely.coverage_union_all(mine), geom).area < 1e-12, code


def test_micro_grids_exactly_cover_their_grid_with_one_worker_each(city):
    micro = city["micro_grids"]
    for code, geom in zip(city["grids"]["code"], city["grids"].geometry):
        mine = micro.loc[micro["grid_code"] == code]
        assert 4 <= len(mine) <= 10, code
        assert shapely.coverage_is_valid(mine.geometry.values), code
        assert shapely.symmetric_difference(shapely.coverage_union_all(mine.geometry.values), geom).area < 1e-12
    assert micro["workers"].map(len).eq(1).all()


def test_whole_district_layers_are_valid_coverages_after_a_file_round_trip(city, tmp_path):
    write_city(city, tmp_path)
    back = read_city(tmp_path)
    for layer in ("streets", "communities", "grids", "micro_grids"):
        assert shapely.coverage_is_valid(back[layer].geometry.values), layer


def test_a_good_share_of_compounds_is_cut_by_grid_lines(city):
    comp, grids = city["compounds"], city["grids"]
    pieces = gpd.overlay(
        comp[["code", "geometry"]],
        grids[["geometry"]].assign(grid=grids["code"]),
        how="intersection",
        keep_geom_type=True,
    )
    pieces = pieces[pieces.to_crs(4550).area > 1.0]
    cut = (pieces.groupby("code")["grid"].nunique() > 1).sum()
    assert 0.2 * len(comp) <= cut < len(comp)


def test_compounds_are_of_all_four_kinds_and_aging_ones_often_lack_clear_boundaries(city):
    comp = city["compounds"]
    assert set(comp["kind"]) == {"residential", "transitional", "aging", "work_unit"}
    aging = comp[comp["kind"] == "aging"]
    assert (~aging["boundary_clear"].astype(bool)).mean() > 0.4
    assert (~aging["has_property_management"].astype(bool)).mean() > 0.5
    assert comp["name"].is_unique


def test_compound_households_equal_the_sum_of_their_buildings(city):
    sums = city["buildings"].groupby("compound_code")["households"].sum()
    comp = city["compounds"].set_index("code")
    assert (comp.loc[sums.index, "households"] == sums).all()
    b = city["buildings"]
    assert b["households"].between(12, 200).all() and b["floors"].between(3, 33).all()
    assert b["units"].between(1, 6).all() and b["number"].str.endswith("号楼").all()


def test_two_communities_are_deliberately_outside_the_household_range(city):
    hh = city["communities"]["households"]
    assert ((hh < 1000) | (hh > 3000)).sum() == 2
    assert (hh < 1000).sum() == 1


def test_grids_are_numbered_north_to_south_and_some_are_dedicated(city):
    grids = city["grids"]
    ded = grids[grids["kind"] == "dedicated"]
    assert len(ded) >= 2 and set(ded["dedicated_for"]) <= {"school", "hospital"}
    basic = grids[grids["kind"] == "basic"]
    assert basic["households"].between(300, 500).mean() > 0.7
    for code, group in basic.groupby("community_code"):
        y = group.sort_values("code").geometry.representative_point().y.to_numpy()
        assert y[0] >= y[-1] - 0.0005, code  # the first grid lies in the north


def test_stations_of_every_kind_with_hours_services_and_contact(city):
    st = city["stations"]
    assert set(st["kind"]) == set(STATION_KINDS)
    assert st["opening_hours"].str.len().gt(0).all() and st["services"].map(len).gt(0).all()
    assert st["contact"].str.startswith("021-").all()
    assert set(st["level"]) >= {"street", "community"}


def test_workers_have_roles_and_synthetic_mobile_numbers(city):
    workers = [w for ws in city["grids"]["workers"] for w in ws]
    assert {w["role"] for w in workers} == {"full_time", "part_time", "auxiliary"}
    assert all(w["phone"].startswith("138") and len(w["phone"]) == 11 for w in workers)
    assert all(any(w["role"] == "full_time" for w in ws) for ws in city["grids"]["workers"])


def test_names_and_codes_are_real_pudong_divisions(city):
    assert set(city["streets"]["name"]) >= {"陆家嘴街道", "潍坊新村街道"}
    assert city["communities"]["code"].str.startswith("310115").all()
    assert "310115005039" in set(city["communities"]["code"])  # 崂山二村居委会
    minx, miny, maxx, maxy = city["streets"].total_bounds
    assert 121.50 <= minx and maxx <= 121.55 and 31.21 <= miny and maxy <= 31.245


def test_tickets_lie_in_the_city_with_catalogue_codes_channels_and_times(city):
    t = city["tickets"]
    district = shapely.union_all(city["streets"].geometry.values)
    assert shapely.contains_xy(district, t.geometry.x.to_numpy(), t.geometry.y.to_numpy()).all()
    assert t["matter_code"].str.fullmatch(r"M(0[1-9]|1\d|2[0-8])").all()
    assert t["matter_code"].nunique() >= 20
    assert set(t["channel"]) == {"12345热线", "微信小程序", "网格员巡查"}
    assert t["reported_at"].str.endswith("+08:00").all()
    times = sorted(t["reported_at"])
    assert times[0] >= "2026-08-25" and times[-1] < "2026-11-25"
    assert t["id"].is_unique and t["address"].str.contains("号楼").mean() > 0.5
