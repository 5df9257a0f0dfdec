"""Drive the real QGIS (PyQGIS) against a running gridgis: run by Debian's ``/usr/bin/python3``.

Not a test module: :mod:`tests.qgis.test_qgis_real` writes a job (JSON) and runs
``/usr/bin/python3 qgis_driver.py job.json`` with ``QT_QPA_PLATFORM=offscreen``; this script
does what QGIS does — its OAPIF provider, its auth manager, its JSON exporter, its network
access manager, its editing API on a GeoPackage — and writes what QGIS saw to ``job["out"]``.

Job: ``{"base", "profile", "out", "auth": {name: password}, "steps": [...]}``; steps:

- ``{"op": "read", "layers": [...], "auth": name | null}``: open each layer with the OAPIF
  provider; its validity, fields, every feature's attributes and geometry, and the messages
  QGIS logged (what a planner sees in the message log).
- ``{"op": "put332", "layer", "fid", "set": {...}, "move_vertex": [i, metres] | null, "auth"}``:
  the save of QGIS ≥ 3.32's OAPIF provider (qgsoapifputfeaturerequest.cpp) rebuilt with this
  QGIS: the feature as the provider holds it, the new values set, exported by ``QgsJsonExporter``
  (6 decimals), ``bbox`` and the ``id`` property removed, PUT as ``application/geo+json`` with the
  auth config applied to the request; the status, reason, Qt's ``errorString()`` and the message
  the provider would raise (``Put Feature request failed: <errorString>``).
- ``{"op": "gpkg_edit", "path", "layer", "code", "set": {...}}``: edit a feature of a GeoPackage
  layer with QGIS's editing API (start editing, change attribute values, commit).
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any


def main(job_path: str) -> None:
    with open(job_path, encoding="utf-8") as fh:
        job = json.load(fh)
    os.environ["QGIS_AUTH_DB_DIR_PATH"] = job["profile"]
    from qgis.core import Qgis, QgsApplication

    app = QgsApplication([], False, job["profile"])
    app.initQgis()
    log: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: log.append(f"{tag}: {message}"))
    auth = _auth_configs(job.get("auth") or {})
    results: list[dict[str, Any]] = []
    for step in job["steps"]:
        log.clear()
        op = step["op"]
        if op == "read":
            out = {layer: _read(job["base"], layer, auth.get(step.get("auth"))) for layer in step["layers"]}
        elif op == "put332":
            out = _put332(job["base"], step, auth.get(step.get("auth")))
        elif op == "gpkg_edit":
            out = _gpkg_edit(step)
        else:
            raise SystemExit(f"unknown step {op}")
        app.processEvents()  # messages logged from QGIS's download threads arrive queued
        results.append({"op": op, "result": out, "log": list(log)})
    with open(job["out"], "w", encoding="utf-8") as fh:
        json.dump({"qgis_version": Qgis.QGIS_VERSION, "steps": results}, fh, ensure_ascii=False)
    app.exitQgis()


def _auth_configs(passwords: dict[str, str]) -> dict[str, str]:
    """A Basic auth config per entry (any user name, the token as password) in the temp profile."""
    from qgis.core import QgsApplication, QgsAuthMethodConfig

    manager = QgsApplication.authManager()
    if passwords and not manager.setMasterPassword("gridgis-test-profile", True):
        raise SystemExit("QGIS auth manager: cannot set the master password of the temp profile")
    ids = {}
    for name, password in passwords.items():
        config = QgsAuthMethodConfig()
        config.setName(f"gridgis {name}")
        config.setMethod("Basic")
        config.setConfig("username", "qgis")
        config.setConfig("password", password)
        if not manager.storeAuthenticationConfig(config):
            raise SystemExit(f"QGIS auth manager: cannot store the {name} config")
        ids[name] = config.id()
    return ids


def _value(v: Any) -> Any:
    from qgis.PyQt.QtCore import QVariant

    if isinstance(v, QVariant):
        return None if v.isNull() else v.value()
    return v


def _layer(base: str, name: str, authcfg: str | None) -> Any:
    from qgis.core import QgsVectorLayer

    uri = f"url='{base}' typename='{name}'" + (f" authcfg={authcfg}" if authcfg else "")
    return QgsVectorLayer(uri, name, "OAPIF")


def _read(base: str, name: str, authcfg: str | None) -> dict[str, Any]:
    from qgis.core import QgsVectorDataProvider

    layer = _layer(base, name, authcfg)
    if not layer.isValid():
        return {"valid": False}  # why: in the message log (layer.error() crashes QGIS 3.22 here)
    fields = layer.fields().names()
    features = {}
    for f in layer.getFeatures():
        attrs = {k: _value(f[k]) for k in fields}
        geom = json.loads(f.geometry().asJson(7)) if f.hasGeometry() else None
        features[str(attrs.get("id"))] = {"attributes": attrs, "geometry": geom}
    caps = layer.dataProvider().capabilities()
    return {
        "valid": True,
        "fields": fields,
        "types": [fd.typeName() for fd in layer.fields()],
        "features": features,
        "editable": bool(caps & QgsVectorDataProvider.ChangeAttributeValues),
    }


def _put332(base: str, step: dict[str, Any], authcfg: str | None) -> dict[str, Any]:
    from qgis.core import QgsApplication, QgsJsonExporter, QgsNetworkAccessManager, QgsPoint
    from qgis.PyQt.QtCore import QEventLoop, QUrl
    from qgis.PyQt.QtNetwork import QNetworkRequest

    layer = _layer(base, step["layer"], authcfg)
    feature = next(f for f in layer.getFeatures() if f["id"] == step["fid"])
    for key, value in (step.get("set") or {}).items():
        feature[key] = value
    if step.get("move_vertex"):
        index, metres = step["move_vertex"]
        geom = feature.geometry()
        vertex, centre = geom.vertexAt(index), geom.centroid().asPoint()
        dx = (centre.x() - vertex.x()) * 111_320 * math.cos(math.radians(vertex.y()))
        dy = (centre.y() - vertex.y()) * 111_320
        k = metres / math.hypot(dx, dy)
        moved = QgsPoint(vertex.x() + (centre.x() - vertex.x()) * k, vertex.y() + (centre.y() - vertex.y()) * k)
        if not geom.moveVertex(moved, index):
            raise SystemExit(f"cannot move vertex {index}")
        feature.setGeometry(geom)
    body = json.loads(QgsJsonExporter().exportFeature(feature, {}, step["fid"]))
    body.pop("bbox", None)
    body.get("properties", {}).pop("id", None)  # the provider drops it unless the server sent one
    request = QNetworkRequest(QUrl(f"{base}/collections/{step['layer']}/items/{step['fid']}"))
    request.setHeader(QNetworkRequest.ContentTypeHeader, "application/geo+json")
    if authcfg and not QgsApplication.authManager().updateNetworkRequest(request, authcfg)[0]:
        raise SystemExit("the auth config could not be applied")
    loop = QEventLoop()
    reply = QgsNetworkAccessManager.instance().put(request, json.dumps(body).encode("utf-8"))
    reply.finished.connect(loop.quit)
    loop.exec_()
    status = reply.attribute(QNetworkRequest.HttpStatusCodeAttribute)
    failed = reply.error() != 0
    return {
        "sent": body,
        "status": status,
        "reason": _value(reply.attribute(QNetworkRequest.HttpReasonPhraseAttribute)),
        "error_string": reply.errorString() if failed else "",
        "qgis_message": f"Put Feature request failed: {reply.errorString()}" if failed else "",
        "body": bytes(reply.readAll()).decode("utf-8", "replace"),
    }


def _gpkg_edit(step: dict[str, Any]) -> dict[str, Any]:
    from qgis.core import QgsFeatureRequest, QgsVectorLayer

    layer = QgsVectorLayer(f"{step['path']}|layername={step['layer']}", step["layer"], "ogr")
    if not layer.isValid():
        return {"ok": False, "errors": [f"cannot open {step['path']} {step['layer']}"]}
    request = QgsFeatureRequest().setFilterExpression(f"\"code\" = '{step['code']}'")
    feature = next(layer.getFeatures(request))
    layer.startEditing()
    for key, value in step["set"].items():
        layer.changeAttributeValue(feature.id(), layer.fields().indexOf(key), value)
    ok = layer.commitChanges()
    return {"ok": ok, "errors": list(layer.commitErrors())}


if __name__ == "__main__":
    main(sys.argv[1])
