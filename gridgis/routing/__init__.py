"""Spatial routing: which micro-grid, grid, community, street, compound and building a point is in.

- :class:`RoutingIndex` (:mod:`gridgis.routing.index`): the in-memory index of one boundary
  generation, exact point-in-polygon over a cell raster (:mod:`gridgis.routing.cells`), with the
  documented tie rule, snapping within a tolerance and single/batch look-ups.
- :class:`RoutingService` (:mod:`gridgis.routing.service`): one index per generation from a
  repository, routing against the boundaries valid at a given time.
- :func:`resolve_address` (:mod:`gridgis.routing.address`): "梅园三街坊12号楼" → compound, building.
"""

from gridgis.routing.index import RouteResult, RoutingIndex

__all__ = ["RouteResult", "RoutingIndex"]
