"""Who may see and change people's data: the one place for the people area's access rules.

Roles come from :mod:`gridgis.auth.tokens`; the people area adds its own actions on top:

================ =========================================== ==============================
action           roles                                       scope checked against
================ =========================================== ==============================
read_personal    worker, planner, admin                      the person's micro-grid/grid/community
read_care        worker, admin (and accounts responsible)    the record's micro-grid (see below)
manage_people    worker, planner, admin                      the community/grid of the target
manage_orgs      planner, admin                              the organisation's community
post_wish        reporter, worker, planner, admin            —
handle_wishes    worker, admin                               the wish's grid
export           worker, planner, admin                      the exported area (audited)
================ =========================================== ==============================

Anyone else (viewer, anonymous on a public server) sees people masked: ``张*``, ``138****5678``,
no address, no care needs. A care record is visible to an admin, to a worker whose scope covers
the record's micro-grid, or to a principal whose name is the ``account`` of a person responsible
for the record's building or unit (包栋/包单元) — "visible only to those responsible".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from gridgis.auth.tokens import Principal
from gridgis.errors import AuthError, ForbiddenError

PEOPLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "read_personal": frozenset({"worker", "planner", "admin"}),
    "read_care": frozenset({"worker", "admin"}),
    "manage_people": frozenset({"worker", "planner", "admin"}),
    "manage_orgs": frozenset({"planner", "admin"}),
    "post_wish": frozenset({"reporter", "worker", "planner", "admin"}),
    "handle_wishes": frozenset({"worker", "admin"}),
    "export": frozenset({"worker", "planner", "admin"}),
}


def cli_principal() -> Principal:
    """The principal of command-line work (audited under the OS user's name)."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        user = "unknown"
    return Principal(f"cli:{user}", "admin", ("*",))


def allowed(principal: Principal | None, action: str, codes: Iterable[str | None] = ()) -> bool:
    """True when ``principal`` may do ``action`` on something placed at any of ``codes``."""
    if principal is None or principal.role not in PEOPLE_PERMISSIONS.get(action, frozenset()):
        return False
    if principal.role == "admin":
        return True
    codes = list(codes)
    if not codes:  # an action without a place (e.g. posting a wish)
        return True
    return any(principal.covers(c) for c in codes if c)  # an unplaced record: admins only


def people_require(
    principal: Principal | None, action: str, codes: Iterable[str | None] = (), what: str = ""
) -> Principal:
    """Return ``principal`` when :func:`allowed`; 401 without a token, 403 otherwise (naming the object)."""
    codes = list(codes)
    if principal is None:
        raise AuthError(f"{what or action} needs a token: send 'Authorization: Bearer <token>'")
    if principal.role not in PEOPLE_PERMISSIONS.get(action, frozenset()):
        roles = ", ".join(sorted(PEOPLE_PERMISSIONS.get(action, ())))
        raise ForbiddenError(f"{principal.name} is a {principal.role}; {what or action} needs one of the roles {roles}")
    if not allowed(principal, action, codes):
        where = next((c for c in codes if c), "an unplaced record")
        raise ForbiddenError(f"{where} is outside the scope of {principal.name}; {what or action} is refused")
    return principal


def mask_name(name: str | None) -> str | None:
    """``张三丰`` → ``张**``: the surname only.

    >>> mask_name("张三丰"), mask_name("欧阳修")
    ('张**', '欧**')
    """
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``.

    >>> mask_phone("13812345678")
    '138****5678'
    """
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def pseudonym(value: str | None, salt: str, prefix: str = "P") -> str | None:
    """A stable pseudonym of ``value`` under ``salt`` (same value, same salt → same pseudonym).

    >>> pseudonym("张三", "s1") == pseudonym("张三", "s1") != pseudonym("张三", "s2")
    True
    """
    if value is None or value == "":
        return value
    return f"{prefix}-" + hashlib.sha256(f"{salt}\x00{value}".encode()).hexdigest()[:10]


def redact(row: dict[str, Any], visible: bool) -> dict[str, Any]:
    """The row as a principal may see it: whole when ``visible``, else masked name/phone and no address."""
    if visible:
        return row
    out = dict(row)
    for key in ("name", "resident"):
        if key in out:
            out[key] = mask_name(out[key])
    if "phone" in out:
        out["phone"] = mask_phone(out["phone"])
    for key in ("address", "employer", "needs"):
        if key in out:
            out[key] = None
    out["masked"] = True
    return out


__all__ = [
    "PEOPLE_PERMISSIONS",
    "allowed",
    "cli_principal",
    "mask_name",
    "mask_phone",
    "people_require",
    "pseudonym",
    "redact",
]
