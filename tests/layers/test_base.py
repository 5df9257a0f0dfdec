"""Layer frames: normalisation (columns, types, JSON fields) and per-feature validation."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

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
    grids = gpd.GeoDataFrame(
        {
            "code": ["110105001001001"],
            "name": ["一网格"],
            "community_code": ["110105001001"],
            "workers": ['[{"name": "王芳", "role": "full_time"}]'],
        },
        geometry=[BOX],
        crs=4326,
    )
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
    frame = gpd.GeoDataFrame(
        {
            "code": ["110105001000", "110105001000", "bad", "110105004000", "110105005000", "110105006000"],
            "name": ["a", "b", "c", "d", "e", "f"],
            "households": [1, 2, 3, -4, 5, 6],
        },
        geometry=[BOX, BOX, BOX, BOX, bow, shapely.box(2.3, 48.8, 2.4, 48.9)],
        crs=4326,
    )
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

    stations = gpd.GeoDataFrame(
        {
            "code": ["110105001001S001"],
            "name": ["驿站"],
            "kind": ["red_station"],
            "area_code": ["110105001001"],
            "services": [np.array(["休息", "饮水"])],
        },
        geometry=[shapely.Point(116.4, 39.9)],
        crs=4326,
    )
    out = normalize_frame(get_spec("stations"), stations)
    assert out["services"][0] == ["休息", "饮水"] and isinstance(out["services"][0], list)


# --- the vectorised validate_frame gives exactly the problems of the row-by-row one ---------------


def _reference_validate_frame(spec, frame):
    """The row-by-row validate_frame this module had before it was vectorised, kept as the reference."""
    import numpy as np

    from gridgis import codes
    from gridgis.crs import CHINA_BOUNDS
    from gridgis.errors import Problem
    from gridgis.layers.base import _where, feature_label

    problems = []
    seen = {}
    geoms = frame.geometry.values
    reasons = shapely.is_valid_reason(geoms)
    for i, (_idx, row) in enumerate(frame.iterrows()):
        label = feature_label(row)
        code = row["code"]
        if not codes.is_valid_code(spec.name, code):
            problems.append(
                Problem(
                    f"code {code!r} does not follow the rule for {spec.label_zh}",
                    feature=label,
                    layer=spec.name,
                    kind="bad_code",
                )
            )
        elif code in seen:
            problems.append(
                Problem(
                    f"duplicate code {code} (also row {seen[code]})",
                    feature=label,
                    layer=spec.name,
                    kind="duplicate_code",
                )
            )
        else:
            seen[code] = i
        if not row["name"]:
            problems.append(Problem("name (名称) is empty", feature=label, layer=spec.name, kind="missing"))
        for f in spec.fields:
            value = row[f.name]
            missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
            if f.required and missing:
                problems.append(
                    Problem(f"{f.name} ({f.label_zh}) is required", feature=label, layer=spec.name, kind="missing")
                )
            elif f.choices and not missing and value not in f.choices:
                problems.append(
                    Problem(
                        f"{f.name}={value!r} is not one of {list(f.choices)}",
                        feature=label,
                        layer=spec.name,
                        kind="bad_value",
                    )
                )
            elif f.type == "int" and not missing and int(value) < 0:
                problems.append(
                    Problem(f"{f.name}={value} must not be negative", feature=label, layer=spec.name, kind="bad_value")
                )
        geom = geoms[i]
        if geom is None or shapely.is_empty(geom):
            problems.append(
                Problem("geometry is missing or empty", feature=label, layer=spec.name, kind="invalid_geometry")
            )
            continue
        gtype = geom.geom_type
        expected = ("Point",) if spec.geometry == "point" else ("Polygon", "MultiPolygon")
        if gtype not in expected:
            problems.append(
                Problem(
                    f"geometry is a {gtype}; {spec.label_zh} needs {' or '.join(expected)}",
                    feature=label,
                    layer=spec.name,
                    kind="wrong_geometry_type",
                )
            )
            continue
        if reasons[i] != "Valid Geometry":
            problems.append(
                Problem(
                    f"invalid geometry: {reasons[i]}",
                    feature=label,
                    layer=spec.name,
                    kind="invalid_geometry",
                    where=_where(reasons[i], geom),
                )
            )
        minx, miny, maxx, maxy = geom.bounds
        if minx < CHINA_BOUNDS[0] or miny < CHINA_BOUNDS[1] or maxx > CHINA_BOUNDS[2] or maxy > CHINA_BOUNDS[3]:
            problems.append(
                Problem(
                    f"coordinates {minx:.5f},{miny:.5f}…{maxx:.5f},{maxy:.5f} lie outside China's extent "
                    "(wrong CRS or swapped lon/lat?)",
                    feature=label,
                    layer=spec.name,
                    kind="out_of_area",
                )
            )
    return problems


BOW_TIE = shapely.Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])
LINE = shapely.LineString([(116.4, 39.9), (116.5, 39.9)])
PARIS = shapely.box(2.3, 48.8, 2.4, 48.9)
POINT = shapely.Point(116.405, 39.905)
MULTI = shapely.MultiPolygon([BOX, shapely.box(116.42, 39.90, 116.43, 39.91)])


def _same_as_reference(layer, frame):
    spec = get_spec(layer)
    normal = normalize_frame(spec, frame)
    new, old = validate_frame(spec, normal), _reference_validate_frame(spec, normal)
    assert new == old
    return new


def test_vectorised_validation_matches_the_reference_on_every_kind_of_problem_in_streets():
    frame = gpd.GeoDataFrame(
        {
            "code": [
                "110105001000",
                "110105001000",
                "bad",
                "bad",
                "110105004000",
                "110105005000",
                "110105006000",
                "110105000000",
                "110105007001",
                None,
                110105008000,
                "110105001000",
                " 110105009000 ",
                "110105010000",
                "110105011000",
                "110105012000",
            ],
            "name": ["a", "b", "c", "", None, "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"],
            "households": [1, 2, 3, -4, 5, None, 6, 7, 8, 9, 10, 11, -1, -2, 0, 12],
        },
        geometry=[
            BOX,
            BOX,
            BOX,
            BOX,
            BOW_TIE,
            None,
            PARIS,
            BOX,
            BOX,
            BOX,
            LINE,
            BOX,
            shapely.Polygon(),
            BOW_TIE,
            MULTI,
            POINT,
        ],
        crs=4326,
    )
    problems = _same_as_reference("streets", frame)
    kinds = {p.kind for p in problems}
    assert kinds == {
        "bad_code",
        "duplicate_code",
        "missing",
        "bad_value",
        "invalid_geometry",
        "out_of_area",
        "wrong_geometry_type",
    }
    assert [p.message for p in problems if p.kind == "duplicate_code"] == [
        "duplicate code 110105001000 (also row 0)",
        "duplicate code 110105001000 (also row 0)",
    ]


def test_vectorised_validation_matches_the_reference_for_community_code_rules_and_required_fields():
    frame = gpd.GeoDataFrame(
        {
            "code": ["110105001001", "110105001000", "110105000001", "11010500100", "110105001002", "110105001002"],
            "name": ["一社区", "二社区", "三社区", "四社区", "五社区", "六社区"],
            "street_code": ["110105001000", None, "110105001000", "", None, "110105001000"],
            "population": [10, -3, None, 5, -1, 0],
        },
        geometry=[BOX, BOX, BOW_TIE, BOX, PARIS, BOX],
        crs=4326,
    )
    problems = _same_as_reference("communities", frame)
    assert {p.feature for p in problems if p.kind == "bad_code"} == {
        "110105001000 (二社区)",
        "110105000001 (三社区)",
        "11010500100 (四社区)",
    }


def test_vectorised_validation_matches_the_reference_for_choices_and_points():
    frame = gpd.GeoDataFrame(
        {
            "code": [
                "110105001001S001",
                "110105001001S002",
                "110105001001S003",
                "110105001001Q003",
                "110105001001S001",
            ],
            "name": ["驿站", "站二", None, "站四", "站五"],
            "kind": ["red_station", "spaceship", None, "red_station", "red_station"],
            "area_code": ["110105001001", None, "110105001001", "110105001001", "110105001001"],
        },
        geometry=[POINT, BOX, shapely.Point(2.35, 48.85), shapely.Point(), POINT],
        crs=4326,
    )
    problems = _same_as_reference("stations", frame)
    assert "bad_value" in {p.kind for p in problems} and "wrong_geometry_type" in {p.kind for p in problems}


def test_vectorised_validation_matches_the_reference_for_grids_with_two_enumerations():
    frame = gpd.GeoDataFrame(
        {
            "code": ["110105001001001", "110105001001002", "110105001001003"],
            "name": ["一网格", "二网格", "三网格"],
            "community_code": ["110105001001"] * 3,
            "kind": ["basic", "other", "dedicated"],
            "dedicated_for": [None, "school", "zoo"],
            "households": [300, -1, 400],
        },
        geometry=[BOX, MULTI, BOW_TIE],
        crs=4326,
    )
    problems = _same_as_reference("grids", frame)
    assert [p.kind for p in problems] == ["bad_value", "bad_value", "bad_value", "invalid_geometry"]


def test_a_clean_frame_and_an_empty_frame_have_no_problems():
    assert validate_frame(get_spec("streets"), normalize_frame(get_spec("streets"), streets())) == []
    assert validate_frame(get_spec("stations"), empty_frame(get_spec("stations"))) == []


SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[2] / "data" / "geojson"


@pytest.mark.parametrize(
    "layer", ["streets", "communities", "grids", "micro_grids", "compounds", "buildings", "stations"]
)
def test_vectorised_validation_matches_the_reference_on_the_sample_city_and_a_damaged_copy(layer):
    import numpy as np

    frame = gpd.read_file(SAMPLE / f"{layer}.geojson")
    assert _same_as_reference(layer, frame) == []
    rng = np.random.default_rng(7)
    damaged = frame.copy()
    n = len(damaged)
    rows = rng.choice(n, size=12, replace=n < 12)  # small layers get several problems on one feature
    damaged.loc[damaged.index[rows[0]], "code"] = "x" + str(damaged["code"].iloc[rows[0]])
    damaged.loc[damaged.index[rows[1]], "code"] = damaged["code"].iloc[rows[2]]
    damaged.loc[damaged.index[rows[3]], "name"] = ""
    damaged.loc[damaged.index[rows[4]], "geometry"] = BOW_TIE if layer != "stations" else BOX
    damaged.loc[damaged.index[rows[5]], "geometry"] = None
    damaged.loc[damaged.index[rows[6]], "geometry"] = PARIS if layer != "stations" else shapely.Point(2.3, 48.8)
    spec = get_spec(layer)
    ints = [f.name for f in spec.fields if f.type == "int"]
    if ints:
        damaged[ints[0]] = damaged[ints[0]].astype("float64")
        damaged.loc[damaged.index[rows[7]], ints[0]] = -5
    required = [f.name for f in spec.fields if f.required]
    if required:
        damaged.loc[damaged.index[rows[8]], required[0]] = None
    problems = _same_as_reference(layer, damaged)
    assert len(problems) >= 5


def _reference_text_column(raw, strip=False):
    """The per-value text conversion normalize_frame used before it was vectorised."""
    from gridgis.layers.base import _is_missing

    values = [None if _is_missing(v) else (str(v).strip() if strip else str(v)) for v in raw]
    return pd.Series(values, index=raw.index, dtype=object)


@pytest.mark.parametrize("strip", [True, False])
def test_vectorised_text_columns_match_the_per_value_conversion(strip):
    import numpy as np

    from gridgis.layers.base import _text_column

    cases = [
        pd.Series(
            [" 建外街道 ", "b ", None, np.nan, pd.NA, np.float32("nan"), pd.NaT, 12, 1.5, "", "  "],
            dtype=object,
            index=list(range(10, 21)),
        ),
        pd.Series([110105001000, 110105002000]),
        pd.Series([1.0, np.nan]),
        pd.Series(["x", None], dtype="str"),
        pd.Series([None, None], dtype=object),
        pd.Series([], dtype=object),
    ]
    for raw in cases:
        new, old = _text_column(raw, strip=strip), _reference_text_column(raw, strip=strip)
        assert new.index.equals(old.index) and new.dtype == object
        assert [(v, type(v)) for v in new] == [(v, type(v)) for v in old]


_POOL = {
    "code": [
        "110105001000",
        "110105002000",
        "110105002000",
        "110105000000",
        "110105003001",
        "bad",
        None,
        "110105004000\n",
        "１１０１０５００５０００",
    ],
    "name": ["建外街道", "", None, " 朝外 "],
    "district": ["朝阳区", None],
    "households": [0, 3, -2, None],
    "geometry": [BOX, BOW_TIE, PARIS, LINE, POINT, MULTI, None, shapely.Polygon()],
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(*(st.sampled_from(v) for v in _POOL.values())), max_size=12),
    st.sampled_from(["range", "reversed", "text"]),
)
def test_vectorised_validation_matches_the_reference_on_random_frames(rows, index_kind):
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in _POOL]
    data = dict(zip(_POOL, columns, strict=True))
    geometry = list(data.pop("geometry"))
    n = len(rows)
    index = {"range": range(n), "reversed": range(n, 0, -1), "text": [f"r{k}" for k in range(n)]}[index_kind]
    data["households"] = pd.array(list(data["households"]), dtype="Int64")
    frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=4326).values, crs=4326, index=list(index))
    _same_as_reference("streets", frame)
