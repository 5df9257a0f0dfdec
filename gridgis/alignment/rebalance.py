"""Assigning atoms to grids: majority rule, gap filling, contiguity and household rebalancing.

Private to :mod:`gridgis.alignment.propose`; works on a :class:`~gridgis.alignment.partition.Partition`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.partition import Partition


def initial_assignment(p: Partition, dedicated: frozenset[str] = frozenset()) -> np.ndarray:
    """Each atom goes to the current grid holding most of its households (then most area, then lowest code).

    An atom with households goes to a ``dedicated`` grid only when no basic grid holds any of it.
    """
    n = len(p.atoms)
    out = np.array([None] * n, dtype=object)
    has = np.array([g is not None for g in p.face_grid], dtype=bool)
    if not has.any():
        return out
    codes, grid = np.unique(p.face_grid[has].astype(str), return_inverse=True)
    atom = p.face_atom[has]
    key = atom * len(codes) + grid
    uniq, inv = np.unique(key, return_inverse=True)
    hh = np.bincount(inv, weights=p.face_households[has])
    area = np.bincount(inv, weights=p.face_area[has])
    a, g = uniq // len(codes), uniq % len(codes)
    atom_hh = np.bincount(p.face_atom, weights=p.face_households, minlength=n)
    ded = np.isin(codes[g], list(dedicated)) & (atom_hh[a] > 0) if dedicated else np.zeros(len(a), bool)
    order = np.lexsort((g, -np.round(area, 6), -np.round(hh, 6), ded, a))
    a, g = a[order], g[order]
    first = np.r_[True, a[1:] != a[:-1]]
    out[a[first]] = codes[g[first]]
    return out


def _best_neighbour_grid(
    atoms: list[int], assign: np.ndarray, adj: dict[int, dict[int, float]], exclude: str | None = None
) -> str | None:
    shared: dict[str, float] = {}
    members = set(atoms)
    for a in atoms:
        for b, ln in adj[a].items():
            g = assign[b]
            if b not in members and g is not None and g != exclude:
                shared[g] = shared.get(g, 0.0) + ln
    if not shared:
        return None
    return min(shared.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def fill_gaps(assign: np.ndarray, adj: dict[int, dict[int, float]]) -> np.ndarray:
    """Atoms with no grid join the neighbouring grid they share the longest boundary with."""
    assign = assign.copy()
    while True:
        todo = [a for a in range(len(assign)) if assign[a] is None]
        if not todo:
            return assign
        changes = {a: _best_neighbour_grid([a], assign, adj) for a in todo}
        changes = {a: g for a, g in changes.items() if g is not None}
        if not changes:
            return assign
        for a, g in changes.items():
            assign[a] = g


def components(
    members: list[int], adj: Mapping[int, Iterable[int]] | Sequence[Iterable[int]], without: int | None = None
) -> list[list[int]]:
    """Connected components of ``members`` (optionally without one atom), each sorted, in order of first atom."""
    rest = set(members)
    rest.discard(without)
    out = []
    while rest:
        start = min(rest)
        seen = {start}
        stack = [start]
        while stack:
            a = stack.pop()
            for b in adj[a]:
                if b in rest and b not in seen:
                    seen.add(b)
                    stack.append(b)
        rest -= seen
        out.append(sorted(seen))
    return out


def _members(assign: np.ndarray) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for a, g in enumerate(assign):
        if g is not None:
            out.setdefault(g, []).append(a)
    return out


def make_contiguous(assign: np.ndarray, p: Partition, max_rounds: int = 1000) -> np.ndarray:
    """Detached parts of a grid join the neighbour they share most boundary with; the main part stays."""
    assign = assign.copy()
    hh = p.atoms["households"].to_numpy() if len(p.atoms) else np.zeros(0)
    area = p.atoms["area"].to_numpy() if len(p.atoms) else np.zeros(0)
    for _ in range(max_rounds):
        changed = False
        for g, members in sorted(_members(assign).items()):
            comps = components(members, p.atom_adjacency)
            if len(comps) < 2:
                continue
            comps.sort(key=lambda c: (-hh[c].sum(), -area[c].sum(), c[0]))
            for comp in comps[1:]:
                target = _best_neighbour_grid(comp, assign, p.atom_adjacency, exclude=g)
                if target is not None:
                    assign[comp] = target
                    changed = True
            if changed:
                break
        if not changed:
            return assign
    return assign


def deviation(h: float, config: AlignmentConfig) -> float:
    """How far ``h`` households lie outside the grid range (0 inside it)."""
    return max(0.0, config.household_min - h) + max(0.0, h - config.household_max)


def _reach(
    a: int, src: str, assign: np.ndarray, adj: Mapping[int, Sequence[int]], hh: np.ndarray, max_depth: int = 8
) -> dict[str, list[int]]:
    """Grids reachable from atom ``a`` through empty atoms of its own grid, with the shortest such path
    (``adj``: each atom's neighbours in ascending order)."""
    out: dict[str, list[int]] = {}
    frontier: list[tuple[int, list[int]]] = [(a, [])]
    seen = {a}
    for _ in range(max_depth):
        nxt = []
        for x, path in frontier:
            for b in adj[x]:
                g = assign[b]
                if g is None:
                    continue
                if g != src:
                    if g not in out:
                        out[g] = path
                elif b not in seen and hh[b] <= 0:
                    seen.add(b)
                    nxt.append((b, path + [b]))
        if not nxt:
            break
        frontier = nxt
    return out


def _moves(
    assign: np.ndarray,
    members: dict[str, list[int]],
    hh: np.ndarray,
    adj: dict[int, dict[int, float]],
    involve: set[str],
    fixed: frozenset[str] = frozenset(),
    ordered: Mapping[int, Sequence[int]] | None = None,
) -> list[tuple[int, int, str, str, tuple[int, ...]]]:
    """Every move of an atom with households (with its empty land path) from or into a grid of ``involve``:
    ``(len(path), atom, src, dst, path)``, in a fixed order (``ordered``: each atom's neighbours sorted,
    when the caller has them)."""
    if ordered is None:
        ordered = {x: sorted(n) for x, n in adj.items()}
    sources = set(involve)
    for g in involve:
        sources |= {assign[b] for m in members.get(g, []) for b in adj[m] if assign[b] is not None}
    out = []
    for src in sorted(sources - fixed):
        for a in members.get(src, []):
            if hh[a] <= 0:
                continue
            for dst, path in _reach(a, src, assign, ordered, hh).items():
                if dst not in fixed and (src in involve or dst in involve):
                    out.append((len(path), int(a), src, dst, tuple(path)))
    return out


#: a move (or chain) must lower the deviation by at least this many households: households are whole,
#: and a smaller gain is the fraction a hairline face of a compound without buildings carries
#: (re-aligning an aligned community made such a move: field seed 256, gain 0.00001)
_MIN_GAIN = 0.5

#: moves lowering the deviation by amounts within this many households count as equally good, so the
#: one keeping grids compact can go first
_GAIN_STEP = 50.0


def _bucket(change: float) -> float:
    """The deviation change of a move, coarsened to :data:`_GAIN_STEP` (0 stays 0: never helps)."""
    return float(math.floor(change / _GAIN_STEP)) if change < -1e-9 else 0.0


def _cut_change(assign: np.ndarray, adj: dict[int, dict[int, float]], moved: set[int], src: str, dst: str) -> float:
    """How much longer (m, rounded to dm) the lines between grids get when ``moved`` goes from ``src`` to
    ``dst``: among equally good moves the one keeping grids compact (shorter lines) goes first."""
    change = 0.0
    for x in moved:
        for y, ln in adj[x].items():
            if y not in moved:
                g = assign[y]
                change += ln if g == src else -ln if g == dst else 0.0
    return round(change, 1)


def _feasible(members: dict[str, list[int]], src: str, group: set[int], adj: dict[int, dict[int, float]]) -> bool:
    rest = [m for m in members[src] if m not in group]
    return bool(rest) and len(components(rest, adj)) == 1


def _apply(assign: np.ndarray, members: dict[str, list[int]], move) -> tuple[np.ndarray, dict[str, list[int]]]:
    _, a, _src, dst, path = move
    new = assign.copy()
    new[[a, *path]] = dst
    return new, _members(new)


def rebalance(
    assign: np.ndarray, p: Partition, config: AlignmentConfig, fixed: frozenset[str] = frozenset()
) -> tuple[np.ndarray, list[dict]]:
    """Move whole atoms across grid borders while that brings households closer to the range.

    An atom with households moves to a neighbouring grid it touches directly or through empty land
    of its own grid (that land moves with it). A move must strictly lower the total deviation from
    the range and keep the giving grid contiguous and non-empty; when no single move does, a chain of
    two (one grid passes an atom on while receiving another) is tried. Stops at a fixpoint (so
    re-running on its own result moves nothing) or after ``config.max_moves`` moves. ``fixed`` grids
    (dedicated grids) neither give nor take.
    """
    assign = assign.copy()
    moves: list[dict] = []
    if not len(p.atoms):
        return assign, moves
    hh = p.atoms["households"].to_numpy()
    adj = p.atom_adjacency
    ordered = {x: sorted(n) for x, n in adj.items()}  # neighbours in a fixed order, sorted once

    def dev_of(totals: dict[str, float], grids) -> float:
        return sum(deviation(totals.get(g, 0.0), config) for g in grids)

    def record(move, gain: float) -> None:
        _, a, src, dst, path = move
        moves.append(
            {"atom": a, "with_land": list(path), "from": src, "to": dst, "households": int(round(hh[a])), "gain": gain}
        )

    while len(moves) < config.max_moves:
        members = _members(assign)
        total = {g: float(hh[m].sum()) for g, m in members.items()}
        bad = {g for g in members if g not in fixed and deviation(total[g], config) > 0}
        if not bad:
            break
        scored = []
        dev_now = {g: deviation(t, config) for g, t in total.items()}
        for mv in _moves(assign, members, hh, adj, bad, fixed, ordered):
            _, a, src, dst, _ = mv
            moved = (deviation(total[src] - hh[a], config) + deviation(total[dst] + hh[a], config)) - (
                dev_now[src] + dev_now[dst]
            )
            scored.append((_bucket(moved), _cut_change(assign, adj, {a, *mv[4]}, src, dst), round(moved, 6), mv))
        scored.sort()
        done = False
        for _, _, delta, mv in scored:
            if delta >= -1e-9:
                break  # the rest gain nothing
            if delta > -_MIN_GAIN:
                continue  # a fraction of a household; a later move of the same bucket may gain more
            if _feasible(members, mv[2], {mv[1], *mv[4]}, adj):
                assign, _ = _apply(assign, members, mv)
                record(mv, -delta)
                done = True
                break
        if done:
            continue
        # chains of two: a first move that helps an out-of-range grid, then a second that relieves the
        # grid it disturbed; accepted when the two together lower the total deviation
        for _, _, _, first in scored[:40]:
            _, a, src, dst, _ = first
            helped = src if src in bad else dst
            other = dst if helped == src else src
            own = deviation(total[helped] + (hh[a] if helped == dst else -hh[a]), config)
            if own >= deviation(total[helped], config) or not _feasible(members, src, {a, *first[4]}, adj):
                continue
            assign2, members2 = _apply(assign, members, first)
            total2 = {g: float(hh[m].sum()) for g, m in members2.items()}
            best = None
            for second in _moves(assign2, members2, hh, adj, {other}, fixed, ordered):
                _, b, s2, d2, _ = second
                if b == a or {s2, d2} == {src, dst}:
                    continue
                after = dict(total2)
                after[s2] -= hh[b]
                after[d2] += hh[b]
                grids = {src, dst, s2, d2}
                gain = dev_of(total, grids) - dev_of(after, grids)
                if (
                    gain >= _MIN_GAIN
                    and (best is None or (-gain, second) < (-best[0], best[1]))
                    and _feasible(members2, s2, {b, *second[4]}, adj)
                ):
                    best = (gain, second)
            if best is not None:
                assign, _ = _apply(assign2, members2, best[1])
                record(first, 0.0)
                record(best[1], best[0])
                done = True
                break
        if not done:
            break
    return assign, moves
