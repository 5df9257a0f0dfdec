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
    from gridgis.api.reason import HTTP_PROTOCOL
    from gridgis.settings import get_settings

    app = create_app(settings or get_settings(database_url=repository.url), repository)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", http=HTTP_PROTOCOL)
    )
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


_TEMPLATE: dict[str, str] = {}


def seeded_repository(url: str, author: str = "seed") -> Any:
    """A repository at ``url`` with the schema and the tiny example city.

    On SQLite the first call builds a template file and later calls copy it (sqlite backup API).
    """
    from gridgis.storage import Repository

    if url.startswith("sqlite:///"):
        import sqlite3
        import tempfile

        if "path" not in _TEMPLATE:
            path = tempfile.mkdtemp(prefix="gridgis_template_") + "/city.db"
            template = _seed(Repository(f"sqlite:///{path}"), author)
            template.dispose()
            _TEMPLATE["path"] = path
        src, dst = sqlite3.connect(_TEMPLATE["path"]), sqlite3.connect(url.removeprefix("sqlite:///"))
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return Repository(url)
    return _seed(Repository(url), author)


def _seed(repo: Any, author: str) -> Any:
    from gridgis.editing.examples import tiny_city

    repo.create_schema()
    repo.write_city(tiny_city(), author=author, message="tiny example city")
    return repo


@contextmanager
def editing_server(
    db_path: str, settings_overrides: dict | None = None, tokens: dict[str, tuple[str, list[str]]] | None = None
) -> Iterator[tuple[str, dict[str, str], Any]]:
    """A seeded SQLite store served live; yields ``(base_url, {name: token}, repository)``.

    ``tokens`` maps a holder's name to ``(role, scopes)``; by default an admin, a viewer, a planner
    for the whole street and a planner for community 110105001002 only.
    """
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.settings import get_settings

    url = db_path if "://" in db_path else f"sqlite:///{db_path}"
    repo = seeded_repository(url)
    ensure_tables(repo.engine)
    store = TokenStore(repo.engine)
    tokens = tokens or {
        "admin": ("admin", []),
        "viewer": ("viewer", []),
        "planner": ("planner", ["110105001000"]),
        "planner_b": ("planner", ["110105001002"]),
    }
    issued = {name: store.create(name, role, scopes)[0] for name, (role, scopes) in tokens.items()}
    settings = get_settings(database_url=url, **(settings_overrides or {}))
    try:
        with live_api(repo, settings) as base:
            yield base, issued, repo
    finally:
        repo.dispose()
