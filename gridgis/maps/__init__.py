"""Maps: folium maps (offline assets), viewer tiles with per-zoom simplification, life-circle coverage.

folium is imported lazily inside :mod:`gridgis.maps.folium_maps`, never at package import.
"""

from gridgis.maps.coverage import LIFE_CIRCLES, CoverageResult, coverage_report, demand_points, suggest_sites
from gridgis.maps.network import RoadNetwork, build_road_network, read_osm_roads

__all__ = [
    "LIFE_CIRCLES",
    "CoverageResult",
    "RoadNetwork",
    "build_road_network",
    "coverage_report",
    "demand_points",
    "read_osm_roads",
    "suggest_sites",
]
