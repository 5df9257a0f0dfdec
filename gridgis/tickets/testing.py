"""Helpers for tests of the ticket API: a live uvicorn server on a free localhost port.

Used by ``tests/api/test_tickets_api.py`` and ``tests/api/test_open311.py``; not needed at run time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on 127.0.0.1; yield its base URL; stop it afterwards."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def admin_headers(repository: Any, name: str = "tests-admin") -> dict[str, str]:
    """An ``Authorization`` header with a fresh admin token stored in ``repository`` (for API tests)."""
    from gridgis.auth.store import TokenStore, ensure_tables

    ensure_tables(repository.engine)
    token, _ = TokenStore(repository.engine).create(name, "admin", ["*"])
    return {"Authorization": f"Bearer {token}"}
