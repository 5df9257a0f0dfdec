"""Helpers for tests of the ticket API: a live uvicorn server on a free localhost port.

Used by ``tests/api/test_tickets_api.py`` and ``tests/api/test_open311.py``; not needed at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` (lifespan on) with ``tests.live.LiveServer``; yield its base URL."""
    from tests.live import LiveServer

    with LiveServer(app, lifespan="on") as server:
        yield server.url


def admin_headers(repository: Any, name: str = "tests-admin") -> dict[str, str]:
    """An ``Authorization`` header with a fresh admin token stored in ``repository`` (for API tests)."""
    from gridgis.auth.store import TokenStore, ensure_tables

    ensure_tables(repository.engine)
    token, _ = TokenStore(repository.engine).create(name, "admin", ["*"])
    return {"Authorization": f"Bearer {token}"}
