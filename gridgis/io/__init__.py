"""Reading and writing layers: GeoJSON, GeoPackage and Shapefile, and the real-data importers.

A *city* is a ``dict[str, GeoDataFrame]`` keyed by layer name (see :mod:`gridgis.layers`).

- :func:`import_layer` — any supported file → a checked layer frame (EPSG:4326) and an
  :class:`ImportReport`; the source CRS is explicit, dirty input is refused or repaired.
- :func:`read_features` / :func:`read_source` — the readers (GeoJSON, GeoPackage, Shapefile, CSV).
- :func:`clean_features` — dirty geometry and duplicates, feature by feature.
- :func:`export_layers`, :func:`write_geojson`, :func:`write_gpkg`, :func:`write_shapefile` — writers,
  in WGS84, GCJ-02 or BD-09.
- :mod:`gridgis.io.realdata` — importers for the public datasets in ``../shared/data``.
"""

from gridgis.io.city import read_city, write_city
from gridgis.io.clean import CleanResult, clean_features
from gridgis.io.export import export_layers, write_gpkg
from gridgis.io.geojson import read_geojson, write_geojson
from gridgis.io.layer_import import ImportReport, import_layer
from gridgis.io.readers import read_csv_points, read_features, read_gpkg, read_shapefile, read_source
from gridgis.io.shapefile import SHAPEFILE_NAMES, write_shapefile

__all__ = [
    "SHAPEFILE_NAMES",
    "CleanResult",
    "ImportReport",
    "clean_features",
    "export_layers",
    "import_layer",
    "read_city",
    "read_csv_points",
    "read_features",
    "read_geojson",
    "read_gpkg",
    "read_shapefile",
    "read_source",
    "write_city",
    "write_geojson",
    "write_gpkg",
    "write_shapefile",
]
