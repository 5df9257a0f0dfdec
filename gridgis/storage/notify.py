"""Learning of new generations committed by other processes.

On PostGIS every new generation sends ``NOTIFY gridgis_generation, '<id>'`` inside its write
transaction, so the notification arrives only once the generation is committed. A
:class:`GenerationListener` holds one psycopg connection that ``LISTEN``\\s on that channel and
calls the callback in its own thread. When the connection drops it reconnects and reports the
latest generation if it moved meanwhile (a notification sent while disconnected is lost).
On SQLite there is no NOTIFY: the listener polls the latest generation id instead, on a timer
(``mode="poll"``, also right for a PostgreSQL read replica, where NOTIFY does not arrive). A
repository with a read replica polls by default: the poll reads the replica, so a generation is
reported once the replica has replayed it and an index built then reads it there.

With ``report_current=True`` the callback also gets the latest generation as soon as the
listener is ready (a server's routing index then catches up with a commit made while it was
starting).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from gridgis.storage.queries import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from gridgis.storage.repository import Repository

log = logging.getLogger(__name__)


class GenerationListener:
    """A background thread calling ``callback(generation_id)`` for each new generation."""

    def __init__(
        self,
        repository: Repository,
        callback: Callable[[int], None],
        poll_interval: float = 1.0,
        mode: str | None = None,
        report_current: bool = False,
    ) -> None:
        if mode not in (None, "listen", "poll"):
            raise ValueError(f"mode must be 'listen' or 'poll', not {mode!r}")
        self.repository = repository
        self.callback = callback
        self.poll_interval = poll_interval
        #: "listen" (PostgreSQL LISTEN/NOTIFY) or "poll" (a timer); default by backend, and "poll"
        #: over a read replica (its replayed generation is what its readers can see)
        self.mode = mode or ("listen" if repository.is_postgis and not _has_replica(repository) else "poll")
        self.report_current = report_current
        self.ready = threading.Event()  # set once listening (PostGIS) or the first poll is done (SQLite)
        self._stop = threading.Event()
        self._last: int | None = None
        self._thread = threading.Thread(target=self._run, name="gridgis-generation-listener", daemon=True)

    def start(self) -> GenerationListener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait for the thread to end."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _deliver(self, generation_id: int) -> None:
        if self._last is not None and generation_id <= self._last:
            return
        self._last = generation_id
        try:
            self.callback(generation_id)
        except Exception:  # the listener must survive a failing callback
            log.exception("generation listener callback failed for generation %s", generation_id)

    def _latest(self) -> int | None:
        # a read transaction (plain BEGIN on SQLite): a poll never takes the write lock
        gen = self.repository.current_generation()
        return gen.id if gen is not None else None

    def _run(self) -> None:
        if self.mode == "listen":
            self._listen_postgres()
        else:
            self._poll()

    def _poll(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                latest = self._latest()
                if first:
                    first = False
                    if self.report_current and latest:
                        self._deliver(int(latest))
                    self._last = max(self._last or 0, int(latest or 0))
                    self.ready.set()
                elif latest is not None:
                    self._deliver(int(latest))
            except Exception as err:  # noqa: BLE001 - keep polling while the store is away
                log.warning("generation poll failed: %s", err)
            self._stop.wait(self.poll_interval)

    def _listen_postgres(self) -> None:
        import psycopg

        url = self.repository.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    latest = conn.execute("SELECT max(id) FROM generations").fetchone()
                    latest_id = int(latest[0]) if latest and latest[0] is not None else 0
                    if self._last is None and not self.report_current:
                        self._last = latest_id
                    elif latest_id:  # reconnected (or asked to): report what we may have missed
                        self._deliver(latest_id)
                    self.ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_interval, stop_after=1):
                            try:
                                self._deliver(int(note.payload))
                            except ValueError:
                                log.warning("ignoring notification %r on %s", note.payload, NOTIFY_CHANNEL)
            except Exception as err:  # noqa: BLE001 - reconnect after a lost connection
                if self._stop.is_set():
                    break
                log.warning("generation listener lost its connection (%s); reconnecting", err)
                self._stop.wait(self.poll_interval)


def _has_replica(repository: Any) -> bool:
    return bool(getattr(repository, "has_replica", False))


def start_listener(
    repository: Repository,
    callback: Callable[[int], None],
    poll_interval: float = 1.0,
    mode: str | None = None,
    report_current: bool = False,
) -> Any:
    """Start a :class:`GenerationListener` (see :meth:`Repository.listen_generations`)."""
    return GenerationListener(repository, callback, poll_interval, mode, report_current).start()
