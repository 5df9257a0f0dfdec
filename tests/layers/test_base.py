"""Layer frames: normalisation (columns, types, JSON fields) and per-feature validation."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from gridgis.errors import CRSError, ValidationError
from gridgis.layers import check_frame, empty_frame, get_spec, normalize_frame, validate_frame

BOX = shapely.box(116.40, 39.90, 116.41, 39.91)


def streets(**cols) -> gpd.GeoDataFrame:
    data = {"code": ["110105001000", "110105002000"], "name": ["建外街道", "朝外街道"]}
    data.update(cols)
    return gpd.GeoDataFrame(data, geometry=[BOX, shapely.box(116.41, 39.90, 116.42, 39.91)], crs=4326)


def test_normalize_gives_exactly_the_spec_columns_with_defaults():
    out = normalize_frame(get_spec("streets"), streets(extra=[1, 2]))
    assert list(out.columns) == get_spec("streets").columns
    assert out["households"].tolist() == [0, 0]
    assert str(out["households"].dtype) == "Int64"


def test_missing_text_stays_none_so_an_empty_name_is_reported():
    frame = streets(name=[None, "朝外街道"], district=["朝阳区", None])
    out = normalize_frame(get_spec("streets"), frame)
    assert out["name"].tolist()[0] is None and out["district"].tolist()[1] is None
    kinds = [(p.feature, p.kind) for p in validate_frame(get_spec("streets"), out)]
    assert kinds == [("110105001000", "missing")]


def test_json_fields_given_as_text_are_parsed():
    grids = gpd.GeoDataFrame({"code": ["110105001001001"], "name": ["一网格"], "community_code": ["110105001001"],
                              "workers": ['[{"name": "王芳", "role": "full_time"}]']}, geometry=[BOX], crs=4326)
    out = normalize_frame(get_spec("grids"), grids)
    assert out["workers"][0] == [{"name": "王芳", "role": "full_time"}]


def test_codes_read_as_numbers_are_text():
    out = normalize_frame(get_spec("streets"), streets(code=[110105001000, 110105002000]))
    assert out["code"].tolist() == ["110105001000", "110105002000"]


def test_unreadable_attribute_is_a_validation_error_naming_the_field():
    with pytest.raises(ValidationError) as err:
        normalize_frame(get_spec("streets"), streets(households=["many", 3]))
    assert "households" in str(err.value.problems[0])


def test_required_column_missing_is_an_error():
    with pytest.raises(ValidationError, match="street_code"):
        normalize_frame(get_spec("communities"), streets())


def test_non_storage_crs_is_refused():
    with pytest.raises(CRSError):
        normalize_frame(get_spec("streets"), streets().set_crs(4548, allow_override=True))


def test_validate_finds_each_kind_of_problem():
    bow = shapely.Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])
    frame = gpd.GeoDataFrame({
        "code": ["110105001000", "110105001000", "bad", "110105004000", "110105005000", "110105006000"],
        "name": ["a", "b", "c", "d", "e", "f"],
        "households": [1, 2, 3, -4, 5, 6],
    }, geometry=[BOX, BOX, BOX, BOX, bow, shapely.box(2.3, 48.8, 2.4, 48.9)], crs=4326)
    problems = validate_frame(get_spec("streets"), normalize_frame(get_spec("streets"), frame))
    kinds = {(p.feature.split()[0], p.kind) for p in problems}
    assert ("110105001000", "duplicate_code") in kinds
    assert ("bad", "bad_code") in kinds
    assert ("110105004000", "bad_value") in kinds
    assert ("110105005000", "invalid_geometry") in kinds
    assert ("110105006000", "out_of_area") in kinds
    bow_problem = next(p for p in problems if p.kind == "invalid_geometry")
    assert bow_problem.where == pytest.approx((116.405, 39.905))


def test_wrong_geometry_type_and_empty_geometry_are_reported():
    frame = streets()
    frame.loc[0, "geometry"] = shapely.LineString([(116.4, 39.9), (116.5, 39.9)])
    frame.loc[1, "geometry"] = None
    kinds = [p.kind for p in validate_frame(get_spec("streets"), normalize_frame(get_spec("streets"), frame))]
    assert kinds == ["wrong_geometry_type", "invalid_geometry"]


def test_check_frame_raises_with_every_problem_and_passes_clean_frames():
    assert len(check_frame(get_spec("streets"), streets())) == 2
    with pytest.raises(ValidationError) as err:
        check_frame(get_spec("streets"), streets(code=["x", "y"]))
    assert len(err.value.problems) == 2


def test_empty_frame_has_the_spec_columns_and_crs():
    f = empty_frame(get_spec("stations"))
    assert list(f.columns) == get_spec("stations").columns
    assert f.crs.to_epsg() == 4326 and len(f) == 0
    assert isinstance(f["kind"], pd.Series)


def test_json_lists_read_by_gdal_as_arrays_become_lists():
    import numpy as np

    stations = gpd.GeoDataFrame({"code": ["110105001001S001"], "name": ["驿站"], "kind": ["red_station"],
                                 "area_code": ["110105001001"], "services": [np.array(["休息", "饮水"])]},
                                geometry=[shapely.Point(116.4, 39.9)], crs=4326)
    out = normalize_frame(get_spec("stations"), stations)
    assert out["services"][0] == ["休息", "饮水"] and isinstance(out["services"][0], list)
