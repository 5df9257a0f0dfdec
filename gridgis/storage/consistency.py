"""Read-your-writes over a read replica: the one rule deciding where a boundary read runs.

With ``GRIDGIS_DATABASE_READ_URL`` set, :class:`~gridgis.storage.Repository` sends its reads to a
PostgreSQL streaming replica and its writes to the primary. A replica replays the primary's
WAL a little later (milliseconds, seconds under load), so a planner who has just committed
generation N could read a boundary older than the one they wrote. The rule:

* A read carries a **floor**, the newest generation its caller has seen written (0 when none).
  Over HTTP the floor is the ``X-Gridgis-Generation`` request header or the
  ``gridgis_generation`` cookie; every answer of a request that committed generation N carries
  ``X-Gridgis-Generation: N`` and sets that cookie, so a browser (the web editor) sends it back
  by itself and other clients copy the header (:mod:`gridgis.api.consistency`). A read of an
  explicit ``generation=N`` has floor N too.
* The read opens its transaction on the replica and asks it for its newest replayed
  generation (in the same transaction, so what it then reads is at least that new). When that
  is at least the floor, the replica answers; otherwise — or when the replica cannot be reached —
  the same read runs on the primary. A read is never served older than its floor, and never
  waits for the replica.
* A repository's own commits are a floor for its later reads too (a CLI command that writes then
  reads, a worker after a planner's write), and the newest generation the replica was seen to
  have replayed is remembered, so a floor at or below it costs no check.
* Without a floor (anonymous viewers, tile caches, routing pools) the replica answers whatever
  it has replayed: bounded staleness, the replica's lag.

Routing pools learn of new generations by polling the replica (``listen_generations`` picks
``mode="poll"`` when a replica is configured: NOTIFY is not replicated, and a notification from
the primary would arrive before the replica has replayed the generation).

>>> with read_floor(7) as floor:
...     required_generation()
7
>>> note_written(9)  # outside a floor: nothing to record
>>> with read_floor(0) as floor:
...     note_written(12)
...     floor.written, required_generation()
(12, 12)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

#: the HTTP request/response header carrying a generation floor
HEADER = "X-Gridgis-Generation"
#: the cookie carrying it for browsers
COOKIE = "gridgis_generation"


@dataclass
class ReadFloor:
    """The generation floor of one unit of work (a request) and what it wrote.

    Mutable on purpose: a route run in a worker thread sees a copy of the context, but the same
    object, so a generation it writes is visible to the middleware that answers.
    """

    at_least: int = 0
    written: int | None = None


_floor: ContextVar[ReadFloor | None] = ContextVar("gridgis_read_floor", default=None)


@contextmanager
def read_floor(at_least: int = 0) -> Iterator[ReadFloor]:
    """Reads inside the block are never older than generation ``at_least`` (nor than what the
    block itself writes)."""
    floor = ReadFloor(at_least=max(0, int(at_least)))
    token = _floor.set(floor)
    try:
        yield floor
    finally:
        _floor.reset(token)


def required_generation(explicit: int | None = None) -> int:
    """The floor of a read now: the context's floor, what it wrote, and an explicit generation."""
    floor = _floor.get()
    found = max(0, int(explicit or 0))
    if floor is not None:
        found = max(found, floor.at_least, floor.written or 0)
    return found


def note_written(generation_id: int) -> None:
    """Record a committed generation in the current floor (later reads of the unit see it)."""
    floor = _floor.get()
    if floor is not None:
        floor.written = max(floor.written or 0, int(generation_id))


def parse_floor(value: str | None) -> int:
    """A floor from a header or cookie value; anything but a non-negative integer counts as 0.

    >>> parse_floor("42"), parse_floor(None), parse_floor("x"), parse_floor("-3")
    (42, 0, 0, 0)
    """
    if not value:
        return 0
    try:
        found = int(value.strip())
    except ValueError:
        return 0
    return found if 0 <= found < 2**63 else 0
