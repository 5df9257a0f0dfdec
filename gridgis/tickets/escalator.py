"""Automatic escalation: run :meth:`TicketStore.escalate_overdue` every N seconds in a thread.

Used by ``gridgis tickets escalate --every N`` (a long-running job, e.g. under systemd) and by
the API when the setting ``ticket_escalation_interval_s`` is positive. Escalation is idempotent,
so several workers or a cron job next to it do no harm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger("gridgis.tickets")


class Escalator:
    """Escalate overdue tickets periodically until stopped.

    Parameters
    ----------
    store : a :class:`~gridgis.tickets.store.TicketStore`
    every_s : seconds between runs (> 0)
    clock : returns "now" (default: the current time); tests pass a fixed clock
    on_run : called with each run's escalations (e.g. to print them)
    """

    def __init__(
        self,
        store: Any,
        every_s: float,
        clock: Callable[[], datetime | None] = lambda: None,
        on_run: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        if not every_s > 0:
            raise ValueError(f"escalation interval must be positive seconds, got {every_s!r}")
        self.store, self.every_s, self.clock, self.on_run = store, float(every_s), clock, on_run
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[dict[str, Any]]:
        """One escalation pass now; errors are logged, never raised (the next pass retries)."""
        try:
            done = self.store.escalate_overdue(self.clock())
        except Exception:
            log.exception("automatic escalation failed; retrying in %.0f s", self.every_s)
            done = []
        self.runs += 1
        if done:
            log.info("escalated %d overdue tickets", len(done))
        if self.on_run is not None:
            self.on_run(done)
        return done

    def run(self, max_runs: int | None = None) -> None:
        """Run in the calling thread until :meth:`stop` (or ``max_runs`` passes)."""
        while not self._stop.is_set():
            self.run_once()
            if max_runs is not None and self.runs >= max_runs:
                return
            self._stop.wait(self.every_s)

    def start(self) -> Escalator:
        self._thread = threading.Thread(target=self.run, name="gridgis-escalator", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
