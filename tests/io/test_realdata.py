"""The real public data in ../shared/data imports correctly (see each folder's PROVENANCE.md).

Why it matters: real outlines come in BD-09 and GCJ-02 and are dirty (unclosed rings, degenerate
and self-intersecting outlines, duplicates); these tests prove the conversions land them where the
WGS84 data is, and that the dirt is reported feature by feature and repaired when asked.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgis import codes
from gridgis.errors import ValidationError
from gridgis.io.clean import clean_features
from gridgis.io.readers import read_source
from gridgis.io.realdata import (
    community_codes,
    read_adcode,
    read_mapv_compounds,
    read_township_boundaries,
    street_codes,
)
from gridgis.layers import check_frame, get_spec

MAPV = "mapv-xiaoqu-polygons/beijing-village.json"
TOWNSHIPS = "beijing-township-boundaries/beijing.shp"
ADCODE = "cn-adcode-communities/adcode"


@pytest.fixture(scope="session")
def mapv(shared_data):
    return read_mapv_compounds(shared_data / MAPV)


@pytest.fixture(scope="session")
def adcode(shared_data):
    return read_adcode(shared_data / ADCODE)


@pytest.fixture(scope="session")
def townships(shared_data, adcode):
    return read_township_boundaries(shared_data / TOWNSHIPS, adcode=adcode)


def test_mapv_dirty_outlines_are_refused_feature_by_feature_without_repair(shared_data):
    with pytest.raises(ValidationError) as err:
        read_mapv_compounds(shared_data / MAPV, repair=False)
    report = err.value.report
    assert report.read == 8470
    assert report.counts() == {
        "degenerate": 16,
        "duplicate_geometry": 1,
        "self_intersection": 31,
        "unclosed_ring": 8449,
    }
    first = err.value.problems[0]
    assert first.feature == "#0 MAPV00000" and first.kind == "unclosed_ring" and first.where is not None


def test_mapv_repair_keeps_every_usable_outline_valid(mapv):
    frame, report = mapv
    assert report.read == 8470 and report.kept == len(frame) == 8453  # 16 degenerate + 1 duplicate dropped
    assert report.source_crs == "bd09"
    assert {p.details["action"] for p in report.repairs} == {
        "closed the ring",
        "dropped the feature",
        "made valid (polygonal parts kept)",
        "dropped the duplicate",
    }
    geoms = frame.geometry.values
    assert shapely.is_valid(geoms).all()
    assert set(shapely.get_type_id(geoms)) <= {3, 6}  # Polygon, MultiPolygon
    assert frame.crs.to_epsg() == 4326
    cities = frame["city"].value_counts().to_dict()
    # PROVENANCE counts by centroid: Beijing 3703, Shanghai 2917, Shenzhen 1552, Chongqing 118
    assert 3690 <= cities["北京"] <= 3703 and 2900 <= cities["上海"] <= 2917 and 1540 <= cities["深圳"] <= 1552


def test_bd09_conversion_puts_beijing_compounds_inside_the_wgs84_townships(mapv, townships, shared_data):
    frame, _ = mapv
    beijing = frame[frame["city"] == "北京"]
    tree = shapely.STRtree(townships.geometry.values)

    def rates(geoms):
        centres = shapely.centroid(geoms)
        in_any = np.zeros(len(geoms), bool)
        in_any[tree.query(centres, predicate="within")[0]] = True
        whole = np.zeros(len(geoms), bool)
        whole[tree.query(geoms, predicate="within")[0]] = True
        return in_any.mean(), whole.mean()

    # the same outlines left in BD-09 (read as if they were WGS84): the wrong way
    raw = read_source(shared_data / MAPV, allow_bare_array=True)
    unconverted = clean_features(raw.frame.set_crs(4326), notes=raw.notes, repair=True, key=None).frame
    unconverted = unconverted.set_index("_feature").geometry.loc[beijing["source_index"]].values
    centre_rate, within_rate = rates(beijing.geometry.values)
    raw_centre_rate, raw_within_rate = rates(unconverted)
    assert centre_rate > 0.99
    # compounds rarely straddle a street boundary; shifted by ~700 m, many seem to
    assert within_rate > 0.83
    assert within_rate - raw_within_rate > 0.08
    assert centre_rate >= raw_centre_rate


def test_township_shapefile_and_geojson_agree(shared_data, townships, adcode):
    geo = read_township_boundaries(shared_data / "beijing-township-boundaries/beijing_townships.geojson", adcode=adcode)
    assert len(townships) == len(geo) == 331
    assert townships["name"].tolist() == geo["name"].tolist()
    assert townships["code"].tolist() == geo["code"].tolist()
    a, b = townships.geometry.values, geo.geometry.values
    assert np.allclose(shapely.area(a), shapely.area(b), rtol=1e-9, atol=0)
    assert shapely.distance(shapely.centroid(a), shapely.centroid(b)).max() < 1e-9


def test_townships_get_their_statistical_codes_and_form_a_valid_streets_layer(townships):
    matched = townships[townships["code"].notna()]
    assert len(matched) >= 325  # 330 of 331 match by district and name (望京开发街道 is not in the 2016 list)
    assert matched["code"].is_unique
    assert townships.loc[townships["name"] == "建外街道", "code"].tolist() == ["110105001000"]
    assert townships.loc[townships["name"] == "中关村街道", "code"].tolist() == [
        "110108011000"
    ]  # 中关村街道办事处 in the adcode list
    streets = check_frame(get_spec("streets"), matched)
    assert len(streets) == len(matched)


def test_adcode_lists_keep_twelve_digit_codes_as_text(adcode):
    towns = street_codes(adcode)
    communities = community_codes(adcode)
    # PROVENANCE: 678 town-level and 12 605 village-level units
    assert len(towns) == 678 and len(communities) == 12605
    assert all(codes.is_valid_code("communities", c) for c in communities["code"])
    assert set(communities["street_code"]) <= set(towns["code"])
    assert communities.geometry.notna().sum() == 4168
    assert communities.loc[communities["code"] == "110105001024", "name"].tolist() == ["南郎家园社区"]


def test_gcj02_community_centres_fall_inside_their_own_street(adcode, townships, shared_data):
    streets = dict(zip(townships["code"], townships.geometry, strict=True))
    comm = community_codes(adcode)
    comm = comm[comm.geometry.notna() & comm["street_code"].isin(streets)]
    inside = np.array([streets[s].contains(g) for s, g in zip(comm["street_code"], comm.geometry, strict=True)])
    raw = read_source(
        shared_data / ADCODE / "110105.csv",
        lon="longitude",
        lat="latitude",
        header=False,
        names=[f"c{i}" for i in range(12)] + ["longitude", "latitude"] + [f"d{i}" for i in range(6)],
    )
    raw_pts = dict(zip(raw.frame["c0"], raw.frame.geometry, strict=True))  # GCJ-02 as read, not converted
    chaoyang = comm[comm["code"].str.startswith("110105")]
    raw_inside = np.array(
        [streets[s].contains(raw_pts[c]) for c, s in zip(chaoyang["code"], chaoyang["street_code"], strict=True)]
    )
    conv_inside = np.array(
        [streets[s].contains(g) for s, g in zip(chaoyang["street_code"], chaoyang.geometry, strict=True)]
    )
    assert len(comm) > 2000 and inside.mean() > 0.95
    assert conv_inside.mean() - raw_inside.mean() > 0.1


def test_beijing_streets_from_the_real_data_can_be_stored(townships, tmp_path):
    from gridgis.storage import Repository

    repo = Repository(f"sqlite:///{tmp_path / 'bj.db'}")
    try:
        repo.create_schema()
        matched = townships[townships["code"].notna()]
        gen = repo.write_city({"streets": matched}, "tester", "Beijing townships", replace=False)
        stored = repo.read_layer("streets", generation=gen.id)
        assert len(stored) == len(matched)
        assert stored.set_index("code").loc["110105001000", "name"] == "建外街道"
    finally:
        repo.dispose()
