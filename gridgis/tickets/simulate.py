"""A deterministic, *simulated* handling of imported tickets, for the demo and benchmarks.

The sample tickets are reports only; to show the loop's figures on a map the demo lets a
seeded simulation work through them: most are triaged, dispatched, accepted and resolved
within their limits, some late, some sent back first, a few duplicates merged, most resolved
ones rated (1–5) and closed; the most recent stay open. Nothing here is real performance data.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from gridgis.tickets.loop import Ticket


def plan(tickets: list[Ticket], now: datetime, seed: int = 2341) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The simulated steps (for :meth:`TicketStore.transition_many`) and counts by outcome."""
    rng = random.Random(seed)
    counts = {"closed": 0, "resolved": 0, "merged": 0, "open": 0, "sent_back": 0, "late": 0}
    steps: list[dict[str, Any]] = []
    # per place and matter: the ticket later duplicates merge into, and when it was resolved (None: not yet)
    masters: dict[tuple[str | None, str], tuple[int, datetime | None]] = {}

    def step(t: Ticket, action: str, actor: str, at: datetime, **kw: Any) -> None:
        steps.append({"id": t.id, "action": action, "actor": actor, "at": at, **kw})

    for t in sorted(tickets, key=lambda x: (x.received_at, x.id or 0)):
        key = (t.micro_grid_code or t.grid_code, t.matter_code)
        merge_at = t.received_at + timedelta(minutes=15)
        master = masters.get(key)
        if master is not None and (master[1] is None or merge_at < master[1]) and rng.random() < 0.5:
            # merged only into a master still being handled at that moment (an open ticket)
            step(t, "merge", "分析研判员", merge_at, note="同一地点同类事项，合并办理", master_id=master[0])
            counts["merged"] += 1
            continue
        masters[key] = (int(t.id or 0), None)
        at = t.received_at + timedelta(minutes=rng.randint(3, 18))
        accepted = at + timedelta(minutes=rng.randint(10, 90))
        if accepted > now:
            counts["open"] += 1
            continue
        step(t, "triage", "分析研判员", at)
        at += timedelta(minutes=rng.randint(2, 10))
        step(t, "dispatch", "分析研判员", at)
        if rng.random() < 0.06:
            step(
                t, "send_back", t.department or "责任部门", at + timedelta(minutes=5), note="不属于本单位职责，退回重派"
            )
            step(t, "dispatch", "分析研判员", at + timedelta(minutes=8))
            counts["sent_back"] += 1
            accepted = max(accepted, at + timedelta(minutes=9))  # accepted after the second dispatch
        step(t, "accept", t.assignee or "网格员", accepted)
        late = rng.random() < 0.12
        span = max(((t.solve_due or accepted) - accepted).total_seconds(), 600)
        done = accepted + timedelta(seconds=span * (1.3 + rng.random()) if late else span * rng.uniform(0.1, 0.9))
        if done > now:
            counts["open"] += 1
            continue
        step(t, "resolve", t.assignee or "网格员", done, note="已处理，现场复核")
        masters[key] = (int(t.id or 0), done)
        counts["late"] += int(late)
        if rng.random() < 0.85 and done + timedelta(hours=3) <= now:
            weights = [15, 25, 30, 20, 10] if late else [50, 30, 10, 6, 4]
            step(t, "rate", "居民", done + timedelta(hours=2), rating=rng.choices([5, 4, 3, 2, 1], weights=weights)[0])
            step(t, "close", "网格中心", done + timedelta(hours=3))
            counts["closed"] += 1
        else:
            counts["resolved"] += 1
    steps.sort(key=lambda s: s["at"])  # applied in time order, so a merge meets its master still open
    return steps, counts


def simulate(store: Any, tickets: list[Ticket], now: datetime, seed: int = 2341) -> dict[str, int]:
    """Walk ``tickets`` through the loop with plausible times before ``now``; return counts by outcome."""
    steps, counts = plan(tickets, now, seed)
    counts["steps"] = store.transition_many(steps)
    return counts
