"""The closed loop of a ticket as a pure state machine (no database, no clock).

States (Yixing's loop, DOMAIN.md)::

    received 事件收集 → triaged 分析研判 → dispatched 精准派单 → accepted 签收处理
             → resolved 结果反馈 → rated 工作评价 → closed 事件办结

Other paths:

- ``send_back`` 退回: dispatched/accepted → triaged (wrong department or level; a note is required).
- ``escalate`` 提级: received/triaged/dispatched/accepted → dispatched one level up the chain
  micro_grid → grid → community → street → department (manual, or automatic when overdue).
- ``suspend`` 挂起 / ``resume`` 恢复: an open ticket waits (e.g. for a court ruling) and comes back
  to the state it had; the time suspended is added to its deadlines on resume.
- ``extend`` 延期: a new solution deadline (state unchanged).
- ``reopen`` 重办: resolved → accepted when the reporter is not satisfied.
- ``merge`` 合并: a duplicate is closed as merged into its master ticket.
- ``close`` also from resolved when no rating arrives.

Every transition returns a new :class:`Ticket` and a :class:`Event` (who, when, note, from, to);
invalid ones raise :class:`gridgis.errors.TransitionError` naming the ticket and both states.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gridgis.errors import TransitionError, ValidationError

STATES: dict[str, str] = {
    "received": "事件收集",
    "triaged": "分析研判",
    "dispatched": "精准派单",
    "accepted": "签收处理",
    "resolved": "结果反馈",
    "rated": "工作评价",
    "closed": "事件办结",
    "suspended": "挂起",
}
OPEN_STATES = frozenset({"received", "triaged", "dispatched", "accepted", "suspended"})
#: states in which the solution clock runs (and automatic escalation applies)
RUNNING_STATES = frozenset({"received", "triaged", "dispatched", "accepted"})

LEVELS = ("micro_grid", "grid", "community", "street", "department")
LEVEL_LABELS = {"micro_grid": "微网格", "grid": "网格", "community": "社区", "street": "街道", "department": "职能部门"}

#: action → (allowed from-states, to-state; None = special)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "triage": (frozenset({"received"}), "triaged"),
    "dispatch": (frozenset({"triaged"}), "dispatched"),
    "accept": (frozenset({"dispatched"}), "accepted"),
    "resolve": (frozenset({"accepted"}), "resolved"),
    "rate": (frozenset({"resolved"}), "rated"),
    "close": (frozenset({"rated", "resolved"}), "closed"),
    "send_back": (frozenset({"dispatched", "accepted"}), "triaged"),
    "escalate": (frozenset({"received", "triaged", "dispatched", "accepted"}), "dispatched"),
    "suspend": (frozenset({"received", "triaged", "dispatched", "accepted"}), "suspended"),
    "resume": (frozenset({"suspended"}), None),
    "extend": (RUNNING_STATES | {"suspended"}, None),
    "reopen": (frozenset({"resolved"}), "accepted"),
    "merge": (OPEN_STATES, "closed"),
}
ACTION_LABELS = {
    "create": "事件收集",
    "triage": "分析研判",
    "dispatch": "精准派单",
    "accept": "签收处理",
    "resolve": "结果反馈",
    "rate": "工作评价",
    "close": "事件办结",
    "send_back": "退回",
    "escalate": "提级",
    "suspend": "挂起",
    "resume": "恢复",
    "extend": "延期",
    "reopen": "重办",
    "merge": "合并",
}
DUE_FIELDS = ("respond_due", "reply_due", "coordinate_due", "solve_due")


@dataclass(frozen=True)
class Event:
    """One recorded transition."""

    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ticket:
    """A ticket's state. Times are aware datetimes; the store keeps them in UTC."""

    matter_code: str
    lon: float
    lat: float
    received_at: datetime
    status: str = "received"
    id: int | None = None
    description: str = ""
    address: str | None = None
    channel: str = "hotline"
    reporter: str | None = None
    external_id: str | None = None
    micro_grid_code: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    snapped: bool = False
    distance_m: float = 0.0
    department: str | None = None
    level: str = "grid"
    assignee: str | None = None
    respond_due: datetime | None = None
    reply_due: datetime | None = None
    coordinate_due: datetime | None = None
    solve_due: datetime | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    suspended_at: datetime | None = None
    resume_status: str | None = None
    close_reason: str | None = None
    master_id: int | None = None
    rating: int | None = None
    escalations: int = 0
    overdue: bool = False
    updated_at: datetime | None = None
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def on_time(self) -> bool | None:
        """True when resolved by the solution deadline and never overdue; None while not resolved."""
        if self.resolved_at is None:
            return None
        return (not self.overdue) and (self.solve_due is None or self.resolved_at <= self.solve_due)

    @property
    def label(self) -> str:
        return f"ticket {self.id if self.id is not None else '(new)'}"


def next_level(level: str) -> str | None:
    """The level above ``level`` on the chain, or None at the top (department)."""
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def allowed_actions(status: str) -> list[str]:
    """The actions valid from ``status`` (for the UI and error messages)."""
    return [a for a, (src, _) in TRANSITIONS.items() if status in src]


def _refuse(ticket: Ticket, action: str, why: str | None = None) -> TransitionError:
    target = TRANSITIONS.get(action, (None, None))[1]
    arrow = f"{ticket.status} → {target}" if target else ticket.status
    msg = (
        f"{ticket.label}: cannot {action} ({ACTION_LABELS.get(action, action)}) from {ticket.status} "
        f"({STATES.get(ticket.status, ticket.status)}) [{arrow}]"
    )
    allowed = ", ".join(allowed_actions(ticket.status)) or "none"
    msg += f": {why}" if why else f"; allowed from {ticket.status}: {allowed}"
    return TransitionError(msg)


def apply(
    ticket: Ticket, action: str, *, actor: str, at: datetime, note: str = "", **params: Any
) -> tuple[Ticket, Event]:
    """Apply ``action`` to ``ticket`` at ``at`` by ``actor``; return the new ticket and its event.

    ``params`` per action: dispatch ``level``, ``department``, ``assignee`` (all optional);
    rate ``rating`` (1–5); escalate ``reason`` ("manual"/"overdue"), ``deadlines`` (new due
    times as a dict, computed by the caller's calendar); extend ``solve_due``; merge
    ``master_id``; resume may pass ``deadlines`` too (else the suspension is added to each).

    Raises
    ------
    TransitionError
        When the loop does not allow ``action`` from the ticket's state.
    ValidationError
        When an action's parameter is missing or out of range (rating, master).
    """
    if at.tzinfo is None:
        raise ValidationError(f"{ticket.label}: transition time must be timezone-aware")
    if action not in TRANSITIONS:
        raise TransitionError(f"{ticket.label}: unknown action {action!r}; use one of {', '.join(TRANSITIONS)}")
    sources, target = TRANSITIONS[action]
    if ticket.status not in sources:
        raise _refuse(ticket, action)
    changes: dict[str, Any] = {}
    data: dict[str, Any] = {}
    if action == "dispatch":
        for key in ("level", "department", "assignee"):
            if params.get(key):
                changes[key] = params[key]
        if "level" in changes and changes["level"] not in LEVELS:
            raise ValidationError(f"{ticket.label}: unknown level {changes['level']!r}; use one of {', '.join(LEVELS)}")
        data = {k: v for k, v in changes.items()}
    elif action == "accept":
        changes["accepted_at"] = at
        if params.get("assignee"):
            changes["assignee"] = params["assignee"]
    elif action == "send_back":
        if not note.strip():
            raise ValidationError(f"{ticket.label}: a send-back (退回) needs a note saying why")
    elif action == "resolve":
        changes["resolved_at"] = at
        if ticket.solve_due is not None and at > ticket.solve_due:
            changes["overdue"] = True
    elif action == "rate":
        rating = params.get("rating")
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise ValidationError(f"{ticket.label}: rating must be an integer 1–5, got {rating!r}")
        changes["rating"] = rating
        data["rating"] = rating
    elif action == "close":
        changes["closed_at"] = at
        changes["close_reason"] = "rated" if ticket.status == "rated" else "unrated"
    elif action == "reopen":
        changes.update(resolved_at=None)
    elif action == "escalate":
        up = next_level(ticket.level)
        if up is None:
            raise _refuse(ticket, action, f"already at the top level ({LEVEL_LABELS[ticket.level]})")
        reason = params.get("reason", "manual")
        changes.update(level=up, escalations=ticket.escalations + 1, assignee=None)
        if reason == "overdue":
            changes["overdue"] = True
        changes.update(params.get("deadlines") or {})
        data = {"from_level": ticket.level, "to_level": up, "reason": reason}
    elif action == "suspend":
        if not note.strip():
            raise ValidationError(f"{ticket.label}: a suspension (挂起) needs a note saying why")
        changes.update(suspended_at=at, resume_status=ticket.status)
    elif action == "resume":
        target = ticket.resume_status or "triaged"
        paused = at - (ticket.suspended_at or at)
        deadlines = params.get("deadlines")
        if deadlines is None:
            deadlines = {k: getattr(ticket, k) + paused for k in DUE_FIELDS if getattr(ticket, k) is not None}
        changes.update(deadlines)
        changes.update(suspended_at=None, resume_status=None)
        data = {"paused_s": int(paused.total_seconds())}
    elif action == "extend":
        new_due = params.get("solve_due")
        if not isinstance(new_due, datetime) or (ticket.solve_due is not None and new_due <= ticket.solve_due):
            raise ValidationError(f"{ticket.label}: an extension (延期) needs a solve_due later than the current one")
        if not note.strip():
            raise ValidationError(f"{ticket.label}: an extension (延期) needs a note saying why")
        changes["solve_due"] = new_due
        data = {
            "old_solve_due": ticket.solve_due.isoformat() if ticket.solve_due else None,
            "solve_due": new_due.isoformat(),
        }
        target = ticket.status
    elif action == "merge":
        master = params.get("master_id")
        if master is None or master == ticket.id:
            raise ValidationError(f"{ticket.label}: merge needs the id of another (master) ticket")
        changes.update(master_id=master, closed_at=at, close_reason="merged", suspended_at=None, resume_status=None)
        data = {"master_id": master}
    assert target is not None
    new = replace(ticket, status=target, updated_at=at, version=ticket.version + 1, **changes)
    event = Event(action=action, from_status=ticket.status, to_status=target, actor=actor, at=at, note=note, data=data)
    return new, event


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """True when the solution clock runs and ``now`` is past the solution deadline."""
    return (
        ticket.status in RUNNING_STATES
        and ticket.solve_due is not None
        and now > ticket.solve_due
        and next_level(ticket.level) is not None
    )


def replay(
    start: Ticket,
    steps: list[tuple[str, dict[str, Any]]],
    *,
    actor: str,
    at: datetime,
    every: timedelta = timedelta(minutes=5),
) -> tuple[Ticket, list[Event]]:
    """Apply ``steps`` (action, params) one after another, ``every`` apart (for demos and tests)."""
    events = []
    ticket = start
    for i, (action, params) in enumerate(steps):
        params = dict(params)
        note = params.pop("note", "")
        ticket, ev = apply(ticket, action, actor=actor, at=at + every * (i + 1), note=note, **params)
        events.append(ev)
    return ticket, events
