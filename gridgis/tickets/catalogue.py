"""The matter catalogue (吹哨报到事项清单): domains, items, responsible departments, tiers, deadlines.

The default catalogue ships as ``catalogue.yaml`` next to this module (6 domains, 28 items
``M01``..``M28``). Planners load their own with :func:`load_catalogue` (YAML or JSON); every
problem is reported at once, each naming the item at fault.

Examples
--------
>>> cat = default_catalogue()
>>> len(cat.domains), len(cat.items)
(6, 28)
>>> cat.item("M10").department
'城管执法中队'
>>> str(cat.item("M10").deadlines.respond)
'20min'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from gridgis.errors import MalformedInputError, NotFoundError, Problem, ValidationError

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")

#: tier → (Chinese label, the level that handles it first)
TIERS: dict[str, tuple[str, str]] = {
    "small": ("小事快速响应", "grid"),
    "big": ("大事协商共议", "community"),
    "hard": ("难事提级共管", "street"),
}

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(min|h|d|wh|wd)\s*$")
_LIMITS = ("respond", "reply", "coordinate", "solve")
#: unit → True when it counts in working time
DURATION_UNITS = {"min": False, "h": False, "d": False, "wh": True, "wd": True}


@dataclass(frozen=True)
class Duration:
    """A time limit: ``value`` of ``unit`` (``min``, ``h``, ``d`` clock; ``wh``, ``wd`` working time)."""

    value: int
    unit: str

    @classmethod
    def parse(cls, text: str | Duration) -> Duration:
        """Parse ``"20min"``, ``"4h"``, ``"1wd"`` …; raise ``ValueError`` naming the accepted units."""
        if isinstance(text, Duration):
            return text
        if isinstance(text, dict) and set(text) == {"value", "unit"}:
            text = f"{text['value']}{text['unit']}"
        match = _DURATION_RE.match(str(text))
        if not match:
            raise ValueError(f"duration {text!r} is not <number><unit> with unit one of min, h, d, wh, wd")
        return cls(int(match.group(1)), match.group(2))

    @property
    def working(self) -> bool:
        return DURATION_UNITS[self.unit]

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"


def _duration(value: Any) -> Duration:
    return Duration.parse(value)


class Deadlines(BaseModel):
    """The four limits of the 2341 standard, each a :class:`Duration`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    respond: Duration
    reply: Duration
    coordinate: Duration
    solve: Duration

    @field_validator("respond", "reply", "coordinate", "solve", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Duration:
        return _duration(value)

    def as_dict(self) -> dict[str, str]:
        return {k: str(getattr(self, k)) for k in ("respond", "reply", "coordinate", "solve")}


class PartialDeadlines(BaseModel):
    """Per-item overrides of some of the limits."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    respond: Duration | None = None
    reply: Duration | None = None
    coordinate: Duration | None = None
    solve: Duration | None = None

    @field_validator("respond", "reply", "coordinate", "solve", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Duration | None:
        return None if value is None else _duration(value)


class Domain(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^D\d{1,2}$")
    name: str = Field(min_length=1)


class Item(BaseModel):
    """One matter: code, name, domain, responsible department, tier, deadlines, legal basis."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    code: str = Field(pattern=r"^M\d{2,3}$")
    domain: str
    name: str = Field(min_length=1)
    department: str = Field(min_length=1)
    tier: Literal["small", "big", "hard"]
    emergency: bool = False
    keywords: tuple[str, ...] = ()
    legal_basis: str | None = None
    description: str | None = None
    #: in the file: overrides of some limits; after loading: the effective :class:`Deadlines`
    #: (catalogue standard, or emergency standard, then the item's overrides)
    deadlines: PartialDeadlines | None = None

    @property
    def tier_label(self) -> str:
        return TIERS[self.tier][0]

    @property
    def first_level(self) -> str:
        """The level that handles this matter first: grid, community or street (by tier)."""
        return TIERS[self.tier][1]


class Catalogue(BaseModel):
    """A whole catalogue. Items' ``deadlines`` are resolved to full :class:`Deadlines` on load."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    name: str
    version: str = "1"
    service_standard: Deadlines
    emergency_standard: Deadlines | None = None
    domains: tuple[Domain, ...]
    items: tuple[Item, ...]

    @model_validator(mode="after")
    def _resolve(self) -> Catalogue:
        problems = reference_problems(
            [{"code": d.code} for d in self.domains],
            [{"code": i.code, "name": i.name, "domain": i.domain} for i in self.items],
        )
        resolved = []
        for item in self.items:
            base = self.emergency_standard if (item.emergency and self.emergency_standard) else self.service_standard
            over = item.deadlines
            merged = {k: getattr(base, k) for k in _LIMITS}
            if over is not None:
                merged.update({k: getattr(over, k) for k in _LIMITS if getattr(over, k, None) is not None})
            resolved.append(item.model_copy(update={"deadlines": Deadlines(**merged)}))
        if problems:
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "items", tuple(resolved))
        return self

    # -- lookups ---------------------------------------------------------------------------
    def item(self, code: str) -> Item:
        """The item with ``code``; :class:`NotFoundError` naming the code and the valid range."""
        for it in self.items:
            if it.code == code:
                return it
        raise NotFoundError(
            f"unknown matter code {code!r}: use one of {self.items[0].code}..{self.items[-1].code} "
            f"(GET /matters lists them)"
        )

    def has(self, code: str) -> bool:
        return any(it.code == code for it in self.items)

    def domain(self, code: str) -> Domain:
        for d in self.domains:
            if d.code == code:
                return d
        raise NotFoundError(f"unknown matter domain {code!r}")

    def deadlines(self, code: str) -> Deadlines:
        dl = self.item(code).deadlines
        assert isinstance(dl, Deadlines)
        return dl

    def guess(self, text: str | None) -> Item | None:
        """The item whose keywords or name occur most in ``text`` (ties: lowest code), or None."""
        if not text:
            return None
        best: tuple[int, str] | None = None
        for it in self.items:
            score = sum(len(k) for k in it.keywords if k and k in text) + (len(it.name) if it.name in text else 0)
            if score and (best is None or score > best[0]):
                best = (score, it.code)
        return self.item(best[1]) if best else None

    def to_public(self) -> list[dict[str, Any]]:
        """Items as plain dicts (for ``GET /matters`` and exports)."""
        names = {d.code: d.name for d in self.domains}
        out = []
        for it in self.items:
            dl = it.deadlines
            out.append(
                {
                    "code": it.code,
                    "name": it.name,
                    "domain": it.domain,
                    "domain_name": names.get(it.domain),
                    "department": it.department,
                    "tier": it.tier,
                    "tier_label": it.tier_label,
                    "emergency": it.emergency,
                    "keywords": list(it.keywords),
                    "legal_basis": it.legal_basis,
                    "deadlines": dl.as_dict() if isinstance(dl, Deadlines) else None,
                }
            )
        return out


def reference_problems(domains: list[Any], items: list[Any]) -> list[str]:
    """Codes defined twice and items naming an unknown domain, from plain entries (``{code, name, domain}``).

    Runs on the raw catalogue too, so a catalogue with a bad field *and* a bad reference reports both at once.

    >>> reference_problems([{"code": "D1"}], [{"code": "M1", "name": "占道", "domain": "D2"}, {"code": "M1", "name": "x"}])
    ["item M1 占道: unknown domain 'D2'", 'item M1 x: code defined twice', 'item M1 x: unknown domain None']
    """
    problems: list[str] = []
    seen_domains: set[Any] = set()
    for d in domains:
        code = d.get("code") if isinstance(d, dict) else None
        if code in seen_domains:
            problems.append(f"domain {code} is defined twice")
        seen_domains.add(code)
    seen: set[Any] = set()
    for item in items:
        if not isinstance(item, dict):
            continue
        code, name = item.get("code"), item.get("name")
        if code in seen:
            problems.append(f"item {code} {name}: code defined twice")
        seen.add(code)
        if item.get("domain") not in seen_domains:
            problems.append(f"item {code} {name}: unknown domain {item.get('domain')!r}")
    return problems


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    return value if isinstance(value, list) else []


def _problems_from(exc: PydanticValidationError, raw: dict[str, Any]) -> list[Problem]:
    items = _list(raw, "items")
    domains = _list(raw, "domains")
    problems = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        feature = None
        if len(loc) >= 2 and loc[0] in ("items", "domains") and isinstance(loc[1], int):
            seq = items if loc[0] == "items" else domains
            entry = seq[loc[1]] if loc[1] < len(seq) and isinstance(seq[loc[1]], dict) else {}
            label = " ".join(str(entry.get(k)) for k in ("code", "name") if entry.get(k))
            feature = label or f"{loc[0]}[{loc[1]}]"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        problems.append(Problem(f"{field}: {msg}" if field else msg, feature=feature, layer="matters"))
    return problems


def parse_catalogue(raw: Any, source: str = "catalogue") -> Catalogue:
    """Validate a catalogue given as a mapping; :class:`ValidationError` listing every problem."""
    if not isinstance(raw, dict):
        raise MalformedInputError(f"{source}: a catalogue is a mapping with name, service_standard, domains, items")
    try:
        return Catalogue.model_validate(raw)
    except PydanticValidationError as exc:
        problems = _problems_from(exc, raw)
        if not any("defined twice" in p.message or "unknown domain" in p.message for p in problems):
            # the field errors stopped validation before the cross-references: report those too, in one pass
            domains = _list(raw, "domains")
            items = _list(raw, "items")
            problems += [Problem(m, layer="matters") for m in reference_problems(domains, items)]
        raise ValidationError(
            f"{source}: the matter catalogue is invalid ({len(problems)} problem(s)); fix the items named below",
            problems,
        ) from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue from YAML or JSON (``None``: the default catalogue)."""
    if path is None:
        return default_catalogue()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"matter catalogue {path} does not exist") from None
    except UnicodeDecodeError:
        raise MalformedInputError(f"{path}: not UTF-8 text; save the catalogue as UTF-8") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise MalformedInputError(f"{path}: cannot parse the catalogue: {exc}") from None
    return parse_catalogue(raw, str(path))


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped default catalogue (cached)."""
    raw = yaml.safe_load(DEFAULT_CATALOGUE_PATH.read_text(encoding="utf-8"))
    return parse_catalogue(raw, str(DEFAULT_CATALOGUE_PATH))
