"""Run the API for real on a free localhost port: for tests and demos of editing (QGIS, GDAL).

>>> # with live_api(repo, settings) as base:  httpx.get(base + "/collections")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_api(repository: Any, settings: Any = None) -> Iterator[str]:
    """Serve ``create_app(settings, repository)`` with uvicorn in a thread; yield its base URL."""
    import uvicorn

    from gridgis.api import create_app
    from gridgis.settings import get_settings

    app = create_app(settings or get_settings(database_url=repository.url), repository)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    else:  # pragma: no cover - a server that never starts
        raise RuntimeError("the test API did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def seeded_repository(url: str, author: str = "seed") -> Any:
    """A repository at ``url`` with the schema and the tiny example city."""
    from gridgis.editing.examples import tiny_city
    from gridgis.storage import Repository

    repo = Repository(url)
    repo.create_schema()
    repo.write_city(tiny_city(), author=author, message="tiny example city")
    return repo
