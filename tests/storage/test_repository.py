"""Writing and reading layers: round trips, filters, validation (both backends)."""

from __future__ import annotations

import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from gridgis.errors import NotFoundError, ValidationError
from gridgis.layers import LAYERS, get_spec
from tests.support.storage import tiny_city

GRID1 = "110105001001001"
GRID2 = "110105001001002"


def test_every_layer_round_trips_codes_chinese_names_json_and_geometry(repository):
    city = tiny_city()
    repository.write_city(city, author="测试员", message="导入小城")
    for layer, frame in city.items():
        back = repository.read_layer(layer)
        spec = get_spec(layer)
        assert list(back.columns) == [*spec.columns, "version"]
        assert back.crs.to_epsg() == 4326
        original = frame.sort_values("code").reset_index(drop=True)
        assert back["code"].tolist() == original["code"].tolist()
        assert back["name"].tolist() == original["name"].tolist()
        assert back["version"].tolist() == [1] * len(back)
        for f in spec.fields:
            if f.type == "json":
                assert back[f.name].tolist() == original[f.name].tolist()
        assert all(shapely.equals_exact(back.geometry.values, original.geometry.values, tolerance=0))


def test_round_trip_keeps_holes_and_multipolygons(repository):
    repository.write_city(tiny_city(), author="t")
    compounds = repository.read_layer("compounds").set_index("code")
    courtyard = compounds.loc["110105001001Q001", "geometry"]
    assert isinstance(courtyard, Polygon) and len(courtyard.interiors) == 1
    assert compounds.loc["110105001001Q002", "geometry"].geom_type == "MultiPolygon"


def test_read_keeps_field_types(repository):
    repository.write_city(tiny_city(), author="t")
    compounds = repository.read_layer("compounds").set_index("code")
    assert compounds["has_property_management"].tolist() == [True, False]
    assert compounds["households"].tolist() == [600, 150]
    grids = repository.read_layer("grids").set_index("code")
    assert grids.loc[GRID1, "workers"][0] == {"name": "张伟", "role": "full_time", "phone": "13800000001"}
    assert pd.isna(grids.loc[GRID1, "dedicated_for"]) and grids.loc[GRID2, "dedicated_for"] == "school"


def test_counts_cover_every_layer(repository):
    assert repository.counts() == {layer: 0 for layer in LAYERS}
    repository.write_city(tiny_city(), author="t")
    assert repository.counts() == {
        "streets": 1,
        "communities": 1,
        "compounds": 2,
        "buildings": 2,
        "grids": 2,
        "micro_grids": 2,
        "stations": 2,
    }


def test_bbox_returns_only_intersecting_features(repository):
    repository.write_city(tiny_city(), author="t")
    # inside the bbox of the courtyard compound's *hole*: only the hole → the compound does not intersect
    hole = (116.4045, 39.9045, 116.4055, 39.9055)
    assert repository.read_layer("compounds", bbox=hole).empty
    # the gap between the two parts of the multipolygon touches neither part
    gap = (116.4305, 39.902, 116.4315, 39.904)
    assert repository.count("compounds", bbox=gap) == 0
    east = repository.read_layer("grids", bbox=(116.44, 39.91, 116.46, 39.92))
    assert east["code"].tolist() == [GRID2]
    assert repository.count("grids", bbox=(116.0, 39.0, 117.0, 40.5)) == 2


def test_codes_filters_limit_and_offset(repository):
    repository.write_city(tiny_city(), author="t")
    assert repository.read_layer("grids", codes=[GRID2])["code"].tolist() == [GRID2]
    assert repository.read_layer("grids", filters={"kind": "dedicated"})["code"].tolist() == [GRID2]
    assert repository.read_layer("grids", filters={"households": [420, 999]})["code"].tolist() == [GRID1]
    assert repository.count("compounds", filters={"boundary_clear": False}) == 1
    assert repository.count("grids", filters={"name": "吉祥里第一网格"}) == 1
    assert repository.read_layer("grids", limit=1, offset=1)["code"].tolist() == [GRID2]
    whole_area = (116.0, 39.0, 117.0, 40.5)
    assert repository.read_layer("grids", bbox=whole_area, limit=1, offset=1)["code"].tolist() == [GRID2]


@pytest.mark.parametrize(
    "filters", [{"no_such_field": 1}, {"households": "many"}, {"workers": "张伟"}, {"name": "x' OR '1'='1"}]
)
def test_bad_or_hostile_filters_are_refused_or_match_nothing(repository, filters):
    repository.write_city(tiny_city(), author="t")
    try:
        assert repository.count("grids", filters=filters) == 0
    except ValidationError as err:
        assert "grids" in str(err) or "filter" in str(err)


@pytest.mark.parametrize("bbox", [(1, 2, 3), (116.5, 39.9, 116.4, 40.0), ("a", 1, 2, 3), (float("nan"), 0, 1, 1)])
def test_malformed_bbox_is_refused(make_repository, bbox):
    repository = make_repository("sqlite")  # refused before any SQL runs: one backend is enough
    with pytest.raises(ValidationError, match="bbox"):
        repository.read_layer("grids", bbox=bbox)


def test_get_feature_returns_fields_version_and_geometry(repository):
    repository.write_city(tiny_city(), author="t")
    feature = repository.get_feature("stations", "110105001001S001")
    assert feature["name"] == "吉祥里党群服务中心"
    assert feature["services"] == ["政策咨询", "证明开具"]
    assert feature["version"] == 1 and feature["geometry"].geom_type == "Point"
    assert feature["parent_code"] == "110105001001"


def test_unknown_feature_and_layer_are_named(repository):
    with pytest.raises(NotFoundError, match="grids 110105001001999"):
        repository.get_feature("grids", "110105001001999")
    with pytest.raises(NotFoundError, match="rivers"):
        repository.read_layer("rivers")


def test_invalid_feature_in_the_middle_of_a_city_stores_nothing(repository):
    city = tiny_city()
    bowtie = Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])
    city["grids"].loc[1, "geometry"] = bowtie
    city["stations"].loc[0, "kind"] = "casino"
    with pytest.raises(ValidationError) as caught:
        repository.write_city(city, author="t")
    text = str(caught.value)
    assert GRID2 in text and "Self-intersection" in text and "casino" in text
    assert repository.counts() == {layer: 0 for layer in LAYERS}
    assert repository.generations() == []


def test_rewriting_the_same_city_changes_nothing(repository):
    first = repository.write_city(tiny_city(), author="t")
    again = repository.write_city(tiny_city(), author="t", message="same again")
    assert again == first
    assert set(repository.read_layer("grids")["version"]) == {1}


def test_rewrite_versions_only_changed_features_and_retires_absent_ones(repository):
    repository.write_city(tiny_city(), author="t")
    city = tiny_city()
    grids = city["grids"]
    grids.loc[grids["code"] == GRID1, "households"] = 450
    city["grids"] = grids
    city["stations"] = city["stations"].iloc[:1]
    repository.write_city({"grids": city["grids"], "stations": city["stations"]}, author="t")
    versions = repository.read_layer("grids").set_index("code")["version"].to_dict()
    assert versions == {GRID1: 2, GRID2: 1}
    assert repository.read_layer("stations")["code"].tolist() == ["110105001001S001"]
    assert repository.counts()["compounds"] == 2  # layers not written are left alone


def test_replace_false_keeps_features_absent_from_the_frames(repository):
    repository.write_city(tiny_city(), author="t")
    one = tiny_city()["grids"].iloc[:1]
    repository.write_city({"grids": one}, author="t", replace=False)
    assert repository.count("grids") == 2


def test_a_write_needs_an_author(repository):
    with pytest.raises(ValidationError, match="author"):
        repository.write_city(tiny_city(), author=" ")


def test_frame_in_another_crs_is_refused(repository):
    city = tiny_city()
    with pytest.raises(Exception, match="(?i)crs|EPSG"):
        repository.write_city({"grids": city["grids"].to_crs(3857)}, author="t")
    assert repository.count("grids") == 0


def test_session_commits_on_success_and_rolls_back_on_error(repository):
    import sqlalchemy as sa

    from gridgis.storage.schema import generations

    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    with repository.session() as s:
        s.execute(generations.insert().values(created_at=now, author="a", message="kept"))
    with pytest.raises(RuntimeError), repository.session() as s:
        s.execute(generations.insert().values(created_at=now, author="b", message="lost"))
        raise RuntimeError("boom")
    with repository.session(readonly=True) as s:
        assert s.execute(sa.select(generations.c.message)).scalars().all() == ["kept"]


def test_empty_bbox_area_reads_an_empty_frame_with_layer_columns(repository):
    repository.write_city(tiny_city(), author="t")
    empty = repository.read_layer("grids", bbox=box(100, 30, 100.1, 30.1).bounds)
    assert empty.empty and list(empty.columns) == [*get_spec("grids").columns, "version"]


def test_a_very_long_list_of_codes_is_filtered_correctly(repository, monkeypatch):
    from gridgis.storage import queries

    repository.write_city(tiny_city(), author="t")
    monkeypatch.setattr(queries, "MANY_CODES", 1)  # take the path used for thousands of codes
    wanted = [GRID2, "110105001001404", "110105001001405"]
    assert repository.read_layer("grids", codes=wanted)["code"].tolist() == [GRID2]
    assert repository.count("grids", codes=wanted, bbox=(116.0, 39.0, 117.0, 40.5)) == 1
    assert repository.read_layer("grids", codes=[GRID1, GRID2], limit=1, offset=1)["code"].tolist() == [GRID2]


@pytest.mark.parametrize("page", [{"limit": -1}, {"offset": -5}, {"limit": "ten"}])
def test_bad_paging_is_refused(make_repository, page):
    repository = make_repository("sqlite")  # refused before any SQL runs: one backend is enough
    with pytest.raises(ValidationError):
        repository.read_layer("grids", **page)
