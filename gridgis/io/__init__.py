"""Reading and writing layers: GeoJSON, GeoPackage and Shapefile, and the real-data importers.

A *city* is a ``dict[str, GeoDataFrame]`` keyed by layer name (see :mod:`gridgis.layers`).
"""

from gridgis.io.city import read_city, write_city

__all__ = ["read_city", "write_city"]
