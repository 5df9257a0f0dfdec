"""Personal data in answers: what is removed for callers who may not see it.

Who may see it is one rule, :func:`gridgis.auth.tokens.sees_personal_data`; this module only
shapes the records (a grid worker keeps a name and a role, loses the ways to reach them).
"""

from __future__ import annotations

import json
from typing import Any

#: keys of a person record that reach or identify the person beyond a name and a role
CONTACT_KEYS = frozenset({"phone", "mobile", "tel", "telephone", "email", "wechat", "id_card", "address"})


def without_contacts(workers: Any) -> Any:
    """A list of worker records without their contact keys (other values unchanged).

    >>> without_contacts([{"name": "范淑珍", "role": "full_time", "phone": "13855802706"}])
    [{'name': '范淑珍', 'role': 'full_time'}]
    """
    if not isinstance(workers, list):
        return workers
    return [{k: v for k, v in w.items() if k not in CONTACT_KEYS} if isinstance(w, dict) else w for w in workers]


def feature_for(doc: dict[str, Any], principal: Any) -> dict[str, Any]:
    """A GeoJSON feature as ``principal`` may see it: the workers it lists keep their contacts only
    for those whose scope covers the feature (:func:`gridgis.auth.tokens.sees_personal_data`)."""
    from gridgis.auth.tokens import sees_personal_data

    props = doc.get("properties")
    if not isinstance(props, dict) or not props.get("workers"):
        return doc
    if sees_personal_data(principal, "worker_contacts", str(props.get("code") or "")):
        return doc
    workers = props["workers"]
    if isinstance(workers, str):  # served as JSON text (see gridgis.editing.geojson): strip inside it
        try:
            parsed = json.loads(workers)
        except ValueError:
            return doc
        workers = json.dumps(without_contacts(parsed), ensure_ascii=False)
    else:
        workers = without_contacts(workers)
    return {**doc, "properties": {**props, "workers": workers}}


__all__ = ["CONTACT_KEYS", "feature_for", "without_contacts"]
