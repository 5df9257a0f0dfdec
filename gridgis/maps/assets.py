"""Offline assets: Leaflet (from the ``xstatic-leaflet`` package) and gridgis's own map kit.

Nothing is fetched at run time. Saved maps inline these texts; the viewer serves them
under ``/static``. Leaflet's two links to its home page are neutralised, and its CSS
images become data URIs, so a saved map names no outside host. The only ``http://``
strings left are XML namespace identifiers (never fetched), listed in
:data:`NAMESPACE_URIS`.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
#: XML namespace identifiers: strings that look like URLs but are never requested
NAMESPACE_URIS = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/XML/1998/namespace",
)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
_URL = re.compile(r"https?://[^\s\"'<>()\\]+", re.IGNORECASE)


def leaflet_dir() -> Path:
    """The folder of the installed Leaflet build (``xstatic-leaflet``)."""
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR)


@lru_cache(maxsize=1)
def leaflet_js() -> str:
    """Leaflet's minified JS with its home-page links replaced by ``#``."""
    text = (leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")
    return _URL.sub(lambda m: m.group(0) if m.group(0) in NAMESPACE_URIS else "#", text)


@lru_cache(maxsize=1)
def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as data URIs (and a comment's link neutralised)."""
    base = leaflet_dir()
    text = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        path = base / match.group(1)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    text = _URL.sub(lambda m: m.group(0) if m.group(0) in NAMESPACE_URIS else "#", text)  # a comment's link
    return re.sub(r"url\((images/[\w.-]+\.png)\)", inline, text)


#: the npm packages the web editor loads (``package.json``; ``npm ci`` installs them, never committed)
EDITOR_PLUGIN = "@geoman-io/leaflet-geoman-free"
EDITOR_FILES = {"geoman.js": "dist/leaflet-geoman.min.js", "geoman.css": "dist/leaflet-geoman.css"}


#: the npm package the viewer draws vector tiles with, and its browser build (bundled with its decoder)
VECTOR_TILE_PLUGIN = "leaflet.vectorgrid"
VECTOR_TILE_FILE = "dist/Leaflet.VectorGrid.bundled.min.js"


def node_modules() -> Path:
    """Where ``npm ci`` put the editor's plug-in: ``$GRIDGIS_NODE_MODULES`` or ``node_modules/`` of the checkout."""
    import os

    env = os.environ.get("GRIDGIS_NODE_MODULES")
    return Path(env) if env else STATIC_DIR.parents[1] / "node_modules"


def editor_plugin(name: str) -> str | None:
    """The text of one plug-in file (``geoman.js`` or ``geoman.css``), or ``None`` when it is not installed.

    Links to the plug-in's home page in the JS are replaced by ``#`` (as for Leaflet); the CSS
    only holds data URIs.
    """
    path = node_modules() / EDITOR_PLUGIN / EDITOR_FILES[name]
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if name.endswith(".js"):
        text = _URL.sub(lambda m: m.group(0) if m.group(0) in NAMESPACE_URIS else "#", text)
    return text


def vector_tile_plugin() -> str | None:
    """Leaflet.VectorGrid's browser build (links replaced by ``#``, its source-map comment dropped: the map
    is not installed), or ``None`` when it is not installed (the viewer then uses GeoJSON tiles)."""
    path = node_modules() / VECTOR_TILE_PLUGIN / VECTOR_TILE_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"//# sourceMappingURL=\S+", "", text)
    return _URL.sub(lambda m: m.group(0) if m.group(0) in NAMESPACE_URIS else "#", text)


def kit_js() -> str:
    """gridgis's map kit (styles, icons, Chinese popups, legend, full screen, search, heat layer)."""
    return (STATIC_DIR / "gridgis-map.js").read_text(encoding="utf-8")


def kit_css() -> str:
    return (STATIC_DIR / "gridgis-map.css").read_text(encoding="utf-8")


def inline_head() -> str:
    """``<style>``/``<script>`` blocks holding every asset a saved map needs."""
    return (
        f"<style>{leaflet_css()}</style>\n<style>{kit_css()}</style>\n"
        f"<script>{leaflet_js()}</script>\n<script>{kit_js()}</script>\n"
    )


def external_urls(text: str) -> list[str]:
    """Every ``http(s)://`` URL in ``text`` whose host is not local (namespace identifiers excepted).

    >>> external_urls('<a href="https://example.org/x">x</a> <script src="http://127.0.0.1:8000/a.js">')
    ['https://example.org/x']
    >>> external_urls('<svg xmlns="http://www.w3.org/2000/svg"></svg>')
    []
    """
    found = []
    for url in _URL.findall(text):
        if url.rstrip("/;,.") in NAMESPACE_URIS or url in NAMESPACE_URIS:
            continue
        host = re.sub(r"^https?://", "", url, flags=re.IGNORECASE).split("/", 1)[0].split("@")[-1]
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if hostname.lower() in LOCAL_HOSTS:
            continue
        found.append(url)
    return found
