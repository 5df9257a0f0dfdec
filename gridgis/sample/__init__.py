"""The deterministic sample city (a district of Pudong, Shanghai, around Lujiazui–Weifang).

>>> from gridgis.sample import generate_city
>>> city = generate_city(seed=0, tickets=0)
>>> sorted(city)
['buildings', 'communities', 'compounds', 'grids', 'micro_grids', 'stations', 'streets']
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd

from gridgis.sample.tickets import generate_ticket_points

#: the steps :func:`generate_city` reports through ``step`` (for progress bars)
STEPS = (
    "streets and communities",
    "compounds",
    "buildings",
    "grids",
    "micro-grids",
    "noding the hierarchy",
    "attributes",
    "stations",
    "tickets",
)


def generate_city(
    seed: int = 0, scale: str = "small", tickets: int | None = None, step: Callable[[str], None] | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """Generate the sample city: one layer frame (EPSG:4326) per layer, plus ``"tickets"``.

    Parameters
    ----------
    seed : int
        The same seed always gives the same city, byte for byte when written.
    scale : {"small", "city"}
        ``small`` (~12 communities, ~150 compounds, ~1,500 buildings, ~2,000 tickets) is the
        committed sample; ``city`` is the size of the seed cities (~5,700 compounds,
        ~37,000 micro-grids) for benchmarks, without tickets (see :func:`generate_ticket_points`).
    tickets : int, optional
        Number of tickets (default 2,000 for small, none for city).
    step : callable, optional
        Called with the name of each step as it starts (see :data:`STEPS`).
    """
    import numpy as np

    from gridgis.sample import frames as F
    from gridgis.sample.city import build_plan
    from gridgis.sample.tickets import tickets_frame

    step = step or (lambda _msg: None)
    plan = build_plan(seed, scale, step)
    step("attributes")
    rng = np.random.default_rng([seed, 2])
    city = F.admin_frames(plan, rng)
    comp, _ = F.compounds_frame(plan, rng)
    city["compounds"] = comp
    city["buildings"] = F.buildings_frame(plan, list(comp["code"]), list(comp["community_code"]))
    step("stations")
    city["stations"] = F.stations_frame(plan, city, rng)
    out = F.finish(city)
    n_tickets = (2000 if scale == "small" else 0) if tickets is None else tickets
    step("tickets")
    if n_tickets:
        out["tickets"] = tickets_frame(out, n_tickets, np.random.default_rng([seed, 3]))
    return out


__all__ = ["STEPS", "generate_city", "generate_ticket_points"]
