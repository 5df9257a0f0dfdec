"""The sample generator writes only valid polygons: every layer imports without ``--repair``.

The city-scale sample wrote street 310115127000 and community 310115127006 with a pinhole that
rounding to 7 decimals collapsed ("Too few points"), and grid 310115127006005 with a zero-width
spike ("Self-intersection", #2314). These tests take those shapes (the grid's real ring, metres in
EPSG:4550) through the generator's writer and the importer.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gridgis.io.layer_import import import_layer
from gridgis.sample.frames import to_lonlat
from gridgis.sample.partition import fill_pinholes

EPSG = 4550
# grid 310115127006005 of the city-scale sample: a 1 m slit runs into it from its west edge
SPIKED = shapely.Polygon(
    [
        (369602.9715, 3465552.5295),
        (369602.9715, 3465738.4009),
        (369603.9733, 3465738.4009),
        (369603.9733, 3465738.4009),
        (369602.9715, 3465738.4009),
        (369602.9715, 3465899.6455),
        (369822.1595, 3465899.6455),
        (369822.1595, 3465562.885),
        (369603.9733, 3465552.584),
        (369602.9715, 3465552.5295),
    ]
)


def _pinholed() -> shapely.Geometry:
    outer = shapely.box(369000.0, 3465000.0, 369300.0, 3465300.0)
    pin = shapely.Polygon([(369100.0, 3465100.0), (369100.004, 3465100.0), (369100.0, 3465100.004)])
    return shapely.Polygon(outer.exterior, [pin.exterior])


def test_fill_pinholes_drops_only_numerical_holes():
    assert len(fill_pinholes(_pinholed()).interiors) == 0
    courtyard = shapely.Polygon(shapely.box(0, 0, 100, 100).exterior, [shapely.box(40, 40, 60, 60).exterior])
    assert fill_pinholes(courtyard).equals(courtyard)


def test_written_polygons_are_valid_and_keep_their_area():
    geoms = np.array([SPIKED, _pinholed()], dtype=object)
    out = to_lonlat(geoms, EPSG)
    assert shapely.is_valid(out).all(), [shapely.is_valid_reason(g) for g in out]
    back = gpd.GeoSeries(out, crs=4326).to_crs(EPSG).values
    assert np.allclose(shapely.area(back), shapely.area(geoms), rtol=1e-4)  # 7 decimals are about 1 cm


def test_written_layer_imports_without_repair(tmp_path):
    frame = gpd.GeoDataFrame(
        {
            "code": ["310115127006005", "310115127006006"],
            "name": ["第5网格", "第6网格"],
            "community_code": ["310115127006", "310115127006"],
        },
        geometry=list(to_lonlat(np.array([SPIKED, _pinholed()], dtype=object), EPSG)),
        crs=4326,
    )
    path = tmp_path / "grids.geojson"
    frame.to_file(path, driver="GeoJSON")
    imported, report = import_layer(path, "grids", "wgs84", repair=False)
    assert len(imported) == 2
    assert not report.repairs
