"""Process set-up for the command line and the benchmarks: the memory allocator.

GEOS, under every geometry step of gridgis, makes and frees millions of small objects. With glibc's
allocator this gets slower as the process holds more data: snap-rounding a fixed set of lines took
0.17 s in a fresh process and 0.27–0.35 s once a city's layers were loaded, and aligning the city
took 17–19.6 s where jemalloc takes 14.2 s (and 70 MB less memory). So ``gridgis`` runs itself
under jemalloc when the system has it (Debian: ``libjemalloc2``): :func:`use_jemalloc` re-executes
the process once with the library preloaded, before anything heavy is imported; uvicorn's workers
and alignment's forked workers inherit it. ``GRIDGIS_MALLOC=system`` keeps the system allocator;
without jemalloc, or off Linux, nothing changes.
"""

from __future__ import annotations

import os
import sys

#: where Debian/Ubuntu, Fedora and source installs put jemalloc
JEMALLOC_PATHS = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so.2",
)


def allocator() -> str:
    """``"jemalloc"`` when this process runs with jemalloc preloaded, else ``"system"``."""
    return "jemalloc" if "jemalloc" in os.environ.get("LD_PRELOAD", "") else "system"


def use_jemalloc() -> None:
    """Re-execute this process (same interpreter, same arguments) with jemalloc preloaded, when it is
    installed, on Linux, not already preloaded and not turned off by ``GRIDGIS_MALLOC=system``.
    Returns only when nothing is to be done (or the re-execution failed)."""
    if sys.platform != "linux" or os.environ.get("GRIDGIS_MALLOC", "").strip().lower() == "system":
        return
    if allocator() == "jemalloc":
        return
    lib = next((p for p in JEMALLOC_PATHS if os.path.exists(p)), None)
    argv = getattr(sys, "orig_argv", None)
    if lib is None or not argv:
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = f"{lib} {env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else lib
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *argv[1:]], env)
    except OSError:
        return


def main() -> None:
    """The ``gridgis`` command: :func:`use_jemalloc`, then :func:`gridgis.cli.main`."""
    use_jemalloc()
    from gridgis.cli import main as cli_main

    cli_main()


__all__ = ["JEMALLOC_PATHS", "allocator", "main", "use_jemalloc"]
