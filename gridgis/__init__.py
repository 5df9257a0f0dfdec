"""gridgis: grid-based urban community governance (网格化管理) as a GIS service.

The library is layered:

- :mod:`gridgis.layers` — the spatial model (one module per layer), code rules and checks;
- :mod:`gridgis.crs` and :mod:`gridgis.chinacoords` — storage/metric CRS and GCJ-02/BD-09;
- :mod:`gridgis.io` — import and export of GeoJSON, GeoPackage and Shapefile;
- :mod:`gridgis.storage` — the repository over SQLite (embedded) or PostGIS;
- :mod:`gridgis.alignment` — grid/compound alignment (拉平对齐) and micro-grid splitting;
- :mod:`gridgis.routing` and :mod:`gridgis.tickets` — point routing and the ticket loop;
- :mod:`gridgis.maps` — folium maps; :mod:`gridgis.api` — the FastAPI service; :mod:`gridgis.cli`.
"""

__version__ = "0.1.0"
