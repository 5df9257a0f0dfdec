"""The gridgis command runs under jemalloc when the system has it (gridgis/runtime.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from gridgis.runtime import JEMALLOC_PATHS

HAVE_JEMALLOC = sys.platform == "linux" and any(os.path.exists(p) for p in JEMALLOC_PATHS)
PROBE = (
    "from gridgis.runtime import use_jemalloc, allocator; use_jemalloc(); import os, sys; "
    "maps = open(f'/proc/{os.getpid()}/maps').read(); "
    "print(allocator(), 'jemalloc' in maps, sys.argv[1:])"
)


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GRIDGIS_MALLOC")} | env_extra
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "一", "--two"], check=False, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_gridgis_command_starts_through_the_runtime_entry_point():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "gridgis"]
    assert script.value == "gridgis.runtime:main"


@pytest.mark.skipif(not HAVE_JEMALLOC, reason="jemalloc is not installed (Debian: libjemalloc2; .ci/run installs it)")
def test_the_process_re_executes_itself_once_with_jemalloc_loaded_and_the_same_arguments():
    assert _run({}) == "jemalloc True ['一', '--two']"


def test_gridgis_malloc_system_keeps_the_system_allocator():
    assert _run({"GRIDGIS_MALLOC": "system"}) == "system False ['一', '--two']"
