"""Personal data in answers: what is removed for callers who may not see it.

Who may see it is one rule, :func:`gridgis.auth.tokens.sees_personal_data`; this module only
shapes the records (a grid worker keeps a name and a role, loses the ways to reach them).
"""

from __future__ import annotations

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


__all__ = ["CONTACT_KEYS", "without_contacts"]
