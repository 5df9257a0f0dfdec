"""One routing index per generation for every worker of a ``gridgis serve``: a file, mapped read-only.

A routing index is mostly a few large numeric arrays (the cell rasters and their records, the
snapping segments: ≈ 330 MB for the city sample). Each ``gridgis serve`` worker process used to
build and hold its own copy. Here the first worker to need a generation builds it, writes it to
one file in a directory the workers share, and every worker — the builder too — maps that file
read-only (``mmap``): the arrays live once in the page cache whatever the number of workers, and
a worker's private memory is only the index's small Python part (codes, names, workers).

File format (:func:`write`, :func:`read`): the index pickled with protocol 5, its numeric arrays
*out of band*: ``MAGIC``, the pickle's length and the number of buffers (two little-endian
uint64), one (offset, length) pair per buffer, the pickle, then each buffer at a 64-byte aligned
offset. Reading unpickles with buffers that are slices of the mapping, so every array is a
read-only view of the file (numpy builds it with ``frombuffer``, no copy).

Generations and safety (:class:`SharedIndexes`):

- a file is named by a key: the generation id, its commit time, the store, the counties, the snap
  tolerance and the format version, so a file can only be read as the index it was built as;
- it is written under a temporary name and renamed into place (``os.replace``, atomic): a reader
  sees no file or a whole one;
- one builder per key: an exclusive ``flock`` on ``<key>.lock`` while building, so the other
  workers wait and then map the file instead of building again;
- when a new generation's file is written, files beyond the newest ``keep`` generations of the
  same store and counties are deleted. A worker still using an older file keeps its mapping
  (Linux frees a deleted file's pages only when the last mapping goes); one that asks for it
  later finds no file and builds again.

``gridgis serve`` gives its workers one fresh directory (``GRIDGIS_ROUTING_SHARED_DIR``) and removes
it when it stops; directories left by a ``gridgis serve`` that was killed are removed by the next.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import pickle
import re
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAGIC = b"GRIDGIS-ROUTING-INDEX-2\n"
_ALIGN = 64
#: the environment variable naming the directory the workers of one ``gridgis serve`` share
ENV = "GRIDGIS_ROUTING_SHARED_DIR"
_RUN_PREFIX = "gridgis-routing-"


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def write(index: Any, path: str | Path) -> Path:
    """Write ``index`` (a :class:`~gridgis.routing.index.RoutingIndex`) to ``path`` atomically."""
    path = Path(path)
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(index, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    table_end = len(MAGIC) + 16 + 16 * len(raws)
    offset = _aligned(table_end + len(head))
    spans = []
    for raw in raws:
        spans.append((offset, raw.nbytes))
        offset = _aligned(offset + raw.nbytes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<QQ", len(head), len(raws)))
            f.write(b"".join(struct.pack("<QQ", o, n) for o, n in spans))
            f.write(head)
            for (start, _), raw in zip(spans, raws):
                f.seek(start)
                f.write(raw)
            f.truncate(offset)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see no file or the whole file
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def read(path: str | Path) -> Any:
    """Map the index written by :func:`write` read-only; its arrays are views of the file.

    Raises ``ValueError`` for a file that is not one (or is truncated), ``FileNotFoundError`` when gone.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC) + 16:
            raise ValueError(f"{path} is not a routing index file (too short)")
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapping)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise ValueError(f"{path} is not a routing index file of this version")
    head_len, count = struct.unpack_from("<QQ", view, len(MAGIC))
    table = len(MAGIC) + 16
    spans = [struct.unpack_from("<QQ", view, table + 16 * i) for i in range(count)]
    head_start = table + 16 * count
    if head_start + head_len > size or any(o + n > size for o, n in spans):
        raise ValueError(f"{path} is truncated")
    return pickle.loads(view[head_start : head_start + head_len], buffers=[view[o : o + n] for o, n in spans])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), held for the block."""
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class SharedIndexes:
    """Routing index files in ``directory``, one per key (see the module docstring).

    ``store`` identifies the database (its URL; only a digest is written) and ``family`` what else
    the index depends on (counties, snap tolerance); ``keep`` is how many generations of one
    store and family stay on disk.
    """

    def __init__(self, directory: str | Path, store: str = "", family: str = "", keep: int = 3) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.blake2b(f"{store}\x1f{family}".encode(), digest_size=8).hexdigest()
        self.prefix = f"routing-{digest}-"
        self.keep = max(1, keep)

    def path(self, generation: int, stamp: str = "") -> Path:
        """The file of ``generation``; ``stamp`` (its commit time) tells apart a store recreated with the same ids."""
        tag = hashlib.sha256(stamp.encode()).hexdigest()[:8]
        return self.directory / f"{self.prefix}g{int(generation):012d}-{tag}.idx"

    def get(self, generation: int, build: Callable[[Path], Any], stamp: str = "") -> Any:
        """The mapped index of ``generation``: read from its file, or built (by one worker at a time),
        written, cleaned up after and read back. ``build(path)`` returns the index to write, or None
        when it has written ``path`` itself (:func:`build_elsewhere`)."""
        path = self.path(generation, stamp)
        with contextlib.suppress(FileNotFoundError, ValueError):
            return read(path)  # the usual case for every worker but the first
        with _locked(path.with_suffix(".lock")):
            try:
                return read(path)  # another worker wrote it while this one waited
            except FileNotFoundError:
                pass
            except ValueError:
                log.warning("replacing the unreadable routing index file %s", path)
            index = build(path)
            if index is not None:
                write(index, path)
            del index  # the private arrays go; the mapped ones replace them
        self.clean(generation)
        return read(path)

    def files(self) -> list[tuple[int, Path]]:
        """(generation, path) of this store and family's files, oldest first."""
        found = []
        for p in self.directory.glob(f"{self.prefix}g*.idx"):
            m = re.match(rf"{re.escape(self.prefix)}g(\d+)-", p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def clean(self, newest: int) -> None:
        """Delete the files (and their lock files) of generations older than the ``keep`` newest up to ``newest``."""
        generations = sorted({g for g, _ in self.files() if g <= newest})
        stale = set(generations[: -self.keep])
        for g, p in self.files():
            if g in stale:
                for f in (p, p.with_suffix(".lock")):
                    with contextlib.suppress(FileNotFoundError):
                        f.unlink()


# ---------------------------------------------------------------------- building in a child process
def build_elsewhere(spec: dict[str, Any], path: Path, timeout: float = 3600.0) -> None:
    """Build an index in a fresh Python process that writes it to ``path`` and exits.

    Reading the layers and building leaves a few hundred MB of freed but fragmented heap in the
    process that did it (the frames' GEOS geometries and strings); in a child that memory goes back
    to the system when it exits, so the serving worker holds only what it maps. ``spec``: ``url``,
    ``read_url`` (the store), ``generation``, ``counties`` (list or None), ``snap_tolerance_m``,
    ``previous`` (the file of an earlier generation's index, whose rasters are reused when no outline
    changed, or None). Passed on stdin, so no database password shows in the process list.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gridgis.routing.shared", str(path)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = " ".join(collections.deque(done.stderr.strip().splitlines(), maxlen=3))
        raise RuntimeError(f"building the routing index of generation {spec.get('generation')} failed: {tail}")


def _main(argv: list[str]) -> int:
    """``python -m gridgis.routing.shared PATH`` with the spec of :func:`build_elsewhere` on stdin."""
    import json
    import sys

    from gridgis.routing.service import RoutingService
    from gridgis.storage import Repository

    spec = json.load(sys.stdin)
    repository = Repository(spec["url"], read_url=spec.get("read_url"))
    try:
        counties = frozenset(spec["counties"]) if spec.get("counties") is not None else None
        service = RoutingService(repository, snap_tolerance_m=float(spec["snap_tolerance_m"]), counties=counties)
        previous = None
        if spec.get("previous"):
            with contextlib.suppress(FileNotFoundError, ValueError):
                previous = read(spec["previous"])
        write(service._build_index(int(spec["generation"]), previous), argv[0])
    finally:
        repository.dispose()
    return 0


# ---------------------------------------------------------------------- one directory per gridgis serve
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_directory(base: str | Path | None = None) -> Path:
    """A fresh directory for one ``gridgis serve`` (named after its process id) under ``base``
    (default: the system's temporary directory); first removes those of ``gridgis serve``
    processes that no longer run."""
    base = Path(base or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob(f"{_RUN_PREFIX}*"):
        m = re.fullmatch(rf"{_RUN_PREFIX}(\d+)-.*", old.name)
        if m and old.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_RUN_PREFIX}{os.getpid()}-", dir=base))


def remove_run_directory(path: str | Path) -> None:
    """Remove a directory made by :func:`run_directory` (workers still mapping files keep their pages)."""
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - run by build_elsewhere (tested through the service)
    import sys

    raise SystemExit(_main(sys.argv[1:]))
