"""A few long-lived threads for the geometry work of the editor's requests (dry runs, impact).

A pyproj transformer is set up again in every thread that first uses it (≈ 70 ms per
transformer, a dry run uses several), and the server's default thread pool lets idle threads go
after seconds: a planner who clicks now and then would pay that set-up on nearly every dry run.
These threads live as long as the process, so the set-up is paid once per thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: threads for geometry work; a commit waiting for the write lock keeps one; projections share one lock
WORKERS = 4
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="gridgis-geo")


async def run_geo(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` on one of the long-lived geometry threads (the request's context vars kept)."""
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)
