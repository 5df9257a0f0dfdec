"""Screenshots of the real QGIS desktop showing gridgis's layers, for docs/qgis.md (not a test).

Run by QGIS itself under Xvfb, against a running ``gridgis serve`` (public reads)::

    GRIDGIS_URL=http://127.0.0.1:8000 SHOT_DIR=docs/img \\
    xvfb-run -a -s "-screen 0 1280x800x24" qgis --nologo --noversioncheck --noplugins \\
        --code tests/qgis/screenshots.py

It adds the OAPIF layers, zooms to one community, saves ``qgis-layers.png`` (the main window)
and ``qgis-attributes.png`` (the grids' attribute table: workers as JSON text, worker_names,
worker_count), then quits.
"""

import os

from qgis.core import QgsApplication, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QColor
from qgis.utils import iface

BASE = os.environ.get("GRIDGIS_URL", "http://127.0.0.1:8000")
OUT = os.environ.get("SHOT_DIR", ".")
COMMUNITY = os.environ.get("SHOT_COMMUNITY", "310115005039")
WIDTH = 1000
_keep: list = []


def _layer(name: str, title: str) -> QgsVectorLayer:
    layer = QgsVectorLayer(f"url='{BASE}' typename='{name}'", title, "OAPIF")
    QgsProject.instance().addMapLayer(layer)
    return layer


def _outline(layer: QgsVectorLayer, colour: str, width: float, fill: str | None = None) -> None:
    symbol = layer.renderer().symbol()
    symbol.symbolLayer(0).setStrokeColor(QColor(colour))
    symbol.symbolLayer(0).setStrokeWidth(width)
    symbol.symbolLayer(0).setFillColor(QColor(fill) if fill else QColor(0, 0, 0, 0))
    layer.triggerRepaint()


def _save(widget, name: str) -> None:
    pixmap = widget.grab()
    if pixmap.width() > WIDTH:
        pixmap = pixmap.scaledToWidth(WIDTH, Qt.SmoothTransformation)
    pixmap.save(os.path.join(OUT, name))


def start() -> None:
    communities = _layer("communities", "社区 communities")
    compounds = _layer("compounds", "小区 compounds")
    grids = _layer("grids", "网格 grids")
    stations = _layer("stations", "服务站点 stations")
    _outline(communities, "#333333", 0.9)
    _outline(compounds, "#8d99ae", 0.2, "#e9ecef")
    _outline(grids, "#d62828", 0.6)
    stations.renderer().symbol().setColor(QColor("#1d3557"))
    stations.renderer().symbol().setSize(2.6)
    feature = next(communities.getFeatures(f"\"code\" = '{COMMUNITY}'"), None)
    if feature is not None:
        extent = feature.geometry().boundingBox()
        extent.scale(1.15)
        iface.mapCanvas().setExtent(extent)
    iface.mapCanvas().refresh()
    iface.setActiveLayer(grids)
    QTimer.singleShot(9000, lambda: shoot(grids))


def shoot(grids: QgsVectorLayer) -> None:
    _save(iface.mainWindow(), "qgis-layers.png")
    dialog = iface.showAttributeTable(grids, f"\"community_code\" = '{COMMUNITY}'")
    _keep.append(dialog)
    if dialog is not None:
        dialog.resize(1280, 420)
    QTimer.singleShot(4000, lambda: table(dialog))


def table(dialog) -> None:
    if dialog is not None:
        _save(dialog, "qgis-attributes.png")
    QTimer.singleShot(500, QgsApplication.exit)


QTimer.singleShot(3000, start)
