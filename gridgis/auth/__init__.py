"""Access control: bearer tokens stored hashed, roles, scopes by street/community codes, an audit log.

- :mod:`gridgis.auth.tokens` — pure rules: roles, permissions, scopes, token hashing.
- :mod:`gridgis.auth.tables` — the ``auth_tokens`` and ``audit_log`` tables (migration 0003).
- :mod:`gridgis.auth.store` — create/verify/revoke tokens and write/read the audit log.
- :mod:`gridgis.auth.deps` — FastAPI dependencies (``CurrentPrincipal``, ``require(...)``) for every router.
"""

from gridgis.auth.tokens import ROLES, Principal

__all__ = ["ROLES", "Principal"]
