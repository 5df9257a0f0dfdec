"""OGC API – Features documents (Part 1 core/GeoJSON, Part 2 CRS, Part 4 create/replace/update/delete).

Pure builders of the landing page, conformance declaration, collections and item pages; the
router passes the base URL and the data. Collection ids are the layer names.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from gridgis.editing.geojson import CRS84, SUPPORTED_CRS
from gridgis.layers import LAYERS, get_spec

GEOJSON = "application/geo+json"
JSON = "application/json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]
#: what OPTIONS answers. PATCH is served but not advertised on items: QGIS would then send
#: merge-patches without the version, which are refused (428); advertising PUT makes QGIS send
#: the whole feature, ``version`` included.
ALLOW_ITEMS = "GET, HEAD, POST, OPTIONS"
ALLOW_ITEM = "GET, HEAD, PUT, DELETE, OPTIONS"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def link(href: str, rel: str, type_: str = JSON, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str) -> dict[str, Any]:
    """The landing page (``/``)."""
    return {
        "title": "gridgis 网格化管理",
        "description": "Streets, communities, compounds, buildings, grids, micro-grids and stations "
        "as OGC API – Features (read, and write with a planner token).",
        "links": [
            link(f"{base}/", "self", JSON, "this document"),
            link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "the API definition",
            ),
            link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{base}/collections", "data", JSON, "the layers"),
        ],
    }


def collection(layer: str, base: str, bbox: list[float] | None) -> dict[str, Any]:
    """One collection document (``/collections/{layer}``)."""
    spec = get_spec(layer)
    href = f"{base}/collections/{layer}"
    out: dict[str, Any] = {
        "id": layer,
        "title": spec.label_zh,
        "description": f"{spec.label_zh} ({layer}), {spec.geometry} features",
        "itemType": "feature",
        "crs": list(SUPPORTED_CRS),
        "storageCrs": CRS84,
        "links": [link(href, "self"), link(f"{href}/items", "items", GEOJSON, f"{spec.label_zh} features")],
    }
    if bbox is not None:
        out["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return out


def collections(base: str, bbox: list[float] | None) -> dict[str, Any]:
    """The collections document (``/collections``)."""
    return {
        "links": [link(f"{base}/collections", "self")],
        "collections": [collection(layer, base, bbox) for layer in LAYERS],
    }


def page_links(
    url: str, params: dict[str, str], offset: int, limit: int, returned: int, matched: int
) -> list[dict[str, str]]:
    """``self``, ``next`` and ``prev`` links of an items page, keeping the other query parameters."""

    def href(off: int) -> str:
        q = {**params, "limit": str(limit), "offset": str(off)}
        return f"{url}?{urlencode(q)}"

    links = [link(href(offset), "self", GEOJSON)]
    if offset + returned < matched:
        links.append(link(href(offset + limit), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(link(href(max(offset - limit, 0)), "prev", GEOJSON, "previous page"))
    return links
