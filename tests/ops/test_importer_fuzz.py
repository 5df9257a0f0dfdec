"""Hypothesis fuzzing of the GeoJSON and CSV importers: any input gives a frame or a gridgis error.

Whatever bytes or JSON arrive, the importers either return features in EPSG:4326 or raise a
:class:`~gridgis.errors.GridGISError` naming what is wrong — never another exception.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgis.crs import STORAGE_CRS
from gridgis.errors import GridGISError
from gridgis.io.layer_import import import_layer
from gridgis.io.readers import read_features

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.floats(min_value=120, max_value=122),
    st.floats(min_value=30, max_value=32),
)
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_any = st.recursive(
    json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=6), kids, max_size=4)),
    max_leaves=30,
)
position = st.lists(numbers, min_size=0, max_size=4)
ring = st.lists(position, max_size=8)
geometry = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString", "Bogus"]),
            "coordinates": st.one_of(
                position, st.lists(ring, max_size=3), st.lists(st.lists(ring, max_size=2), max_size=2), json_any
            ),
        }
    ),
)
feature = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Feature", "feature", "Thing"]),
            "properties": st.one_of(
                st.none(),
                st.dictionaries(st.sampled_from(["code", "name", "kind", "households"]), json_leaf, max_size=4),
            ),
            "geometry": st.one_of(st.none(), geometry),
        }
    ),
)
document = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["FeatureCollection", "Feature", "GeometryCollection"]),
            "features": st.one_of(st.lists(feature, max_size=5), json_any),
        }
    ),
)


def _check_frame(frame) -> None:
    assert frame.crs is not None and frame.crs.to_string() == STORAGE_CRS
    present = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]  # a GeoJSON `[]` is an empty geometry
    assert len(present) == 0 or np.all(np.isfinite(present.total_bounds))


@FUZZ
@given(doc=document, raw=st.binary(max_size=64), as_bytes=st.booleans())
def test_any_geojson_gives_features_or_a_clear_error(tmp_path_factory, doc, raw, as_bytes):
    path = tmp_path_factory.mktemp("fuzz") / "input.geojson"
    path.write_bytes(raw if as_bytes else json.dumps(doc, allow_nan=True).encode())
    try:
        frame, _, _ = read_features(path, "gcj02")
    except GridGISError as exc:
        assert str(exc)
        return
    _check_frame(frame)
    try:
        import_layer(path, "compounds", "gcj02")
    except GridGISError as exc:
        assert str(exc)


csv_cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10),
    numbers.map(str),
    st.sampled_from(["", " ", "NaN", "1e309", "121.5", "31.2", "梅园三街坊"]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["lon", "lat", "经度", "纬度", "x", "y", "code", "名称", ""]), min_size=0, max_size=5
    ),
    rows=st.lists(st.lists(csv_cell, max_size=5), max_size=6),
    encoding=st.sampled_from(["utf-8", "gbk", "latin-1"]),
    raw=st.one_of(st.none(), st.binary(max_size=80)),
)
def test_any_csv_gives_points_or_a_clear_error(tmp_path_factory, header, rows, encoding, raw):
    path = tmp_path_factory.mktemp("fuzz") / "points.csv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        text = "\n".join(",".join(c.replace(",", " ").replace("\n", " ") for c in r) for r in [header, *rows])
        try:
            path.write_bytes(text.encode(encoding))
        except UnicodeEncodeError:
            path.write_bytes(text.encode("utf-8"))
    try:
        frame, _, _ = read_features(path, "wgs84")
    except GridGISError as exc:
        assert str(exc)
        return
    _check_frame(frame)
