"""Address routing: free text such as "梅园三街坊12号楼" → compound, building and a point to route.

Three steps, all local (no geocoding service):

1. :func:`parse_address` splits the text into the compound part and the building / unit / room
   numbers (``12号楼``, ``3栋``, ``5幢``, ``7座``, ``5号``, ``2单元``, ``501室``), reading Chinese
   numerals (``三`` → 3, ``十二`` → 12, ``二十三`` → 23, ``两`` → 2) and full-width digits.
2. The compound part is matched against every compound name (and its ``address``) with a fuzzy
   score in [0, 1]: 1 when the name occurs in the text; otherwise a blend of character-bigram
   coverage (how much of the name appears in the text, so prefixes such as "浦东新区" cost
   nothing) and :class:`difflib.SequenceMatcher` similarity. Numerals are normalised on both
   sides (``潍坊八村`` matches ``潍坊8村``).
3. The building is the compound's building whose ``number`` (or name) carries the parsed number.

The answer is an :class:`AddressMatch` with a confidence and the point to route (the building's,
else the compound's representative point, EPSG:4326). When the best two compounds score within
:data:`AMBIGUITY_MARGIN` of each other the match is ``ambiguous``: it carries the ranked candidates
and is not ``routable`` (routing the first would be a guess). A building number the compound lacks
is said in ``notes``, never silently dropped.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import shapely

from gridgis.errors import NotFoundError, ValidationError

#: the best compound must beat the runner-up by this much to be unambiguous
AMBIGUITY_MARGIN = 0.08
#: below this score no compound is taken as a match
MIN_SCORE = 0.45
MAX_ADDRESS_CHARS = 200

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百千"
_NUM = rf"(?:\d+|[{_CN}]+)"
_TAIL = re.compile(
    rf"(?P<b>{_NUM})\s*(?:号楼|号院|栋|幢|座|楼|号)"
    rf"(?:\s*(?P<u>{_NUM})\s*单元)?"
    rf"(?:\s*(?P<r>\d+|[{_CN}]+)\s*(?:室|房|号)?)?\s*$"
)
_UNIT_ONLY = re.compile(rf"(?P<u>{_NUM})\s*单元(?:\s*(?P<r>\d+)\s*(?:室|房)?)?\s*$")
_CN_RUN = re.compile(rf"[{_CN}]+")
_GENERIC_SUFFIX = re.compile(r"(小区|社区|花园|家园|公寓|新村)$")


def cn_to_int(text: str) -> int:
    """Read a number written in digits or Chinese numerals.

    >>> [cn_to_int(t) for t in ("12", "三", "十二", "二十三", "一百零五", "两", "一二", "１２")]
    [12, 3, 12, 23, 105, 2, 12, 12]
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        raise ValidationError(f"{text!r} is not a number")
    if not any(ch in _UNITS for ch in text):  # digit by digit: 一二 → 12
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _UNITS[ch]
            current = 0
    return total + current


def normalise_numerals(text: str) -> str:
    """Full-width to half-width, and every run of Chinese numerals to digits (for matching only)."""
    text = unicodedata.normalize("NFKC", text)
    return _CN_RUN.sub(lambda m: str(cn_to_int(m.group(0))), text)


@dataclass(frozen=True)
class ParsedAddress:
    """The parts of an address text: the compound part and the numbers after it."""

    text: str
    compound: str
    building: int | None = None
    unit: int | None = None
    room: str | None = None


def parse_address(text: str) -> ParsedAddress:
    """Split ``text`` into the compound part and building / unit / room numbers.

    >>> parse_address("梅园三街坊12号楼")
    ParsedAddress(text='梅园三街坊12号楼', compound='梅园三街坊', building=12, unit=None, room=None)
    >>> p = parse_address("阳光小区3栋2单元501室")
    >>> (p.compound, p.building, p.unit, p.room)
    ('阳光小区', 3, 2, '501')
    >>> parse_address("浦东新区潍坊八村5号").building
    5
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("the address is empty; give a compound name, e.g. 梅园三街坊12号楼")
    if len(text) > MAX_ADDRESS_CHARS:
        raise ValidationError(f"the address is {len(text)} characters long; at most {MAX_ADDRESS_CHARS} are read")
    clean = unicodedata.normalize("NFKC", text).strip()
    clean = re.sub(r"[\s,，。;；]+", "", clean)
    m = _TAIL.search(clean)
    if m and m.start() > 0:
        prefix = clean[: m.start()]
        room = m.group("r")
        return ParsedAddress(
            text,
            prefix,
            cn_to_int(m.group("b")),
            cn_to_int(m.group("u")) if m.group("u") else None,
            str(cn_to_int(room)) if room else None,
        )
    m = _UNIT_ONLY.search(clean)
    if m and m.start() > 0:
        return ParsedAddress(text, clean[: m.start()], None, cn_to_int(m.group("u")), m.group("r"))
    return ParsedAddress(text, clean)


@dataclass
class AddressMatch:
    """The compound (and building) an address text resolves to, with a point to route (EPSG:4326)."""

    text: str
    compound_code: str
    compound_name: str
    confidence: float
    lon: float
    lat: float
    building_code: str | None = None
    building_name: str | None = None
    building: int | None = None
    unit: int | None = None
    room: str | None = None
    ambiguous: bool = False
    candidates: list[dict[str, Any]] = field(default_factory=list)
    #: what the text asked for that the data lack, e.g. a building number the compound does not have
    notes: list[str] = field(default_factory=list)

    @property
    def routable(self) -> bool:
        """False when candidates tie: routing the first of them would be a guess."""
        return not self.ambiguous

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "compound": {"code": self.compound_code, "name": self.compound_name},
            "building": ({"code": self.building_code, "name": self.building_name} if self.building_code else None),
            "building_number": self.building,
            "unit": self.unit,
            "room": self.room,
            "confidence": round(self.confidence, 3),
            "ambiguous": self.ambiguous,
            "candidates": self.candidates,
            "notes": self.notes,
            "point": {"lon": self.lon, "lat": self.lat} if self.routable else None,
        }


def _bigrams(s: str) -> set[str]:
    return {s[i : i + 2] for i in range(len(s) - 1)} if len(s) > 1 else {s}


def name_score(name: str, query: str) -> float:
    """Fuzzy score in [0, 1] of compound ``name`` against the compound part ``query``.

    >>> name_score("潍坊八村", "浦东新区潍坊八村")
    1.0
    >>> name_score("梅园三街坊", "梅园3街坊") == 1.0
    True
    >>> name_score("梅园三街坊", "梅园街坊") > name_score("乳山二村", "梅园街坊")
    True
    """
    n, q = normalise_numerals(name), normalise_numerals(query)
    if not n or not q:
        return 0.0
    if n in q:
        return 1.0
    base = _GENERIC_SUFFIX.sub("", n)
    if len(base) >= 3 and base in q:
        return 0.95
    nb, qb = _bigrams(n), _bigrams(q)
    coverage = len(nb & qb) / len(nb)
    ratio = difflib.SequenceMatcher(None, n, q[-max(len(n) + 2, 1) :]).ratio()
    return round(0.6 * coverage + 0.4 * ratio, 4) * 0.94


def _number_of(label: Any) -> int | None:
    if not isinstance(label, str):
        return None
    m = re.search(rf"({_NUM})\s*(?:号楼|号院|栋|幢|座|楼|号)?", unicodedata.normalize("NFKC", label))
    try:
        return cn_to_int(m.group(1)) if m else None
    except ValidationError:
        return None


_ROAD = re.compile(r"(路|街|大道|道|巷|弄|公路)$")


class AddressResolver:
    """Compound names and building numbers prepared once, for many :meth:`resolve` calls.

    Parameters
    ----------
    compounds
        compounds layer frame (``code``, ``name``, optional ``address``, geometry in EPSG:4326).
    buildings
        buildings layer frame (``code``, ``name``, ``compound_code``, ``number``), optional.
    """

    def __init__(self, compounds: gpd.GeoDataFrame | None, buildings: gpd.GeoDataFrame | None = None) -> None:
        if compounds is None or len(compounds) == 0:
            raise NotFoundError("no compounds are loaded, so addresses cannot be resolved; load the compounds layer")
        self.codes = compounds["code"].astype(str).tolist()
        self.names = compounds["name"].fillna("").astype(str).tolist()
        addresses = (
            compounds["address"].fillna("").astype(str).tolist()
            if "address" in compounds.columns
            else [""] * len(self.names)
        )
        self.points = shapely.point_on_surface(compounds.geometry.values)
        self._keys = []  # per compound: (normalised text, base without generic suffix, bigrams, weight)
        for name, addr in zip(self.names, addresses):
            keys = []
            for text, weight in ((name, 1.0), (addr, 0.97)):
                if text:
                    n = normalise_numerals(text)
                    keys.append((n, _GENERIC_SUFFIX.sub("", n), _bigrams(n), weight))
            self._keys.append(keys)
        self._by_bigram: dict[str, set[int]] = {}  # inverted index: only compounds sharing a bigram are scored
        for i, keys in enumerate(self._keys):
            for _, _, grams, _ in keys:
                for g in grams:
                    self._by_bigram.setdefault(g, set()).add(i)
        self.buildings: dict[str, list[tuple[int | None, str, str | None, Any]]] = {}
        if buildings is not None and len(buildings) and "compound_code" in buildings.columns:
            numbers = buildings["number"] if "number" in buildings.columns else buildings["name"]
            for code, name, comp, number, geom in zip(
                buildings["code"], buildings["name"], buildings["compound_code"], numbers, buildings.geometry.values
            ):
                comp_name = self.names[self.codes.index(comp)] if comp in self.codes else ""
                num = _number_of(number)
                if num is None and isinstance(name, str):
                    num = _number_of(name.removeprefix(comp_name))
                self.buildings.setdefault(comp, []).append((num, code, name, geom))

    def _score(self, i: int, q: str, qb: set[str]) -> float:
        best = 0.0
        for n, base, nb, weight in self._keys[i]:
            if n in q:
                s = 1.0
            elif len(base) >= 3 and base in q:
                s = 0.95
            else:
                coverage = len(nb & qb) / len(nb)
                if coverage < 0.25:  # too little in common to be worth a sequence alignment
                    best = max(best, 0.6 * coverage * 0.94 * weight)
                    continue
                ratio = difflib.SequenceMatcher(None, n, q[-(len(n) + 2) :]).ratio()
                s = round(0.6 * coverage + 0.4 * ratio, 4) * 0.94
            best = max(best, s * weight)
        return best

    def resolve(self, text: str, limit: int = 5) -> AddressMatch:
        """Resolve ``text`` (see :func:`resolve_address`)."""
        parsed = parse_address(text)
        q = normalise_numerals(parsed.compound)
        qb = _bigrams(q)
        shared = set().union(*(self._by_bigram.get(g, ()) for g in qb)) or {0}
        scored = sorted(
            ((self._score(i, q, qb), len(self.names[i]), self.codes[i], self.names[i], i) for i in shared),
            key=lambda t: (-t[0], -t[1], t[2]),
        )
        ranked = [{"code": c, "name": nm, "score": round(s, 3)} for s, _, c, nm, _ in scored[:limit] if s > 0]
        best = scored[0]
        road = _ROAD.search(q) is not None and parsed.building is not None
        if best[0] < MIN_SCORE or (road and best[0] < 0.95):
            what = "a road address (road + number)" if road else "no compound name"
            raise NotFoundError(
                f"{text!r} gives {what} that matches a compound; the closest are "
                + (", ".join(f"{c['name']} ({c['code']}, {c['score']})" for c in ranked[:3]) or "none")
                + "; give the compound's name, e.g. 梅园三街坊12号楼"
            )
        ambiguous = len(scored) > 1 and best[0] - scored[1][0] < AMBIGUITY_MARGIN
        if ambiguous and best[0] >= 1.0 and normalise_numerals(scored[1][3]) in normalise_numerals(best[3]):
            ambiguous = False  # "潍坊八村" and the shorter "潍坊" both occur in the text: the longer name wins
        point = self.points[best[4]]
        match = AddressMatch(
            text,
            best[2],
            best[3],
            float(best[0]),
            point.x,
            point.y,
            building=parsed.building,
            unit=parsed.unit,
            room=parsed.room,
            ambiguous=bool(ambiguous),
            candidates=ranked if ambiguous else ranked[:1],
        )
        if parsed.building is not None and not ambiguous:
            known = self.buildings.get(best[2], [])
            for num, code, name, geom in known:
                if num == parsed.building:
                    bp = shapely.point_on_surface(geom)
                    match.building_code, match.building_name = code, name
                    match.lon, match.lat = bp.x, bp.y
                    break
            else:
                numbers = sorted({n for n, *_ in known if n is not None})
                have = f"its buildings are numbered {_ranges(numbers)}" if numbers else "it has no numbered buildings"
                match.notes.append(
                    f"{best[3]} has no building {parsed.building} ({have}); routed to the compound, not a building"
                )
        if ambiguous:
            tied = ", ".join(f"{c['name']} ({c['code']}, {c['score']})" for c in match.candidates)
            match.notes.append(f"{len(match.candidates)} compounds match about equally: {tied}; give the full name")
        return match


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` → ``"1–3, 5"``.

    >>> _ranges([1, 2, 3, 5, 7, 8])
    '1–3, 5, 7–8'
    """
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def resolve_address(
    text: str, compounds: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None = None, limit: int = 5
) -> AddressMatch:
    """Resolve an address text to a compound and building (see the module docstring).

    For many texts against the same layers build one :class:`AddressResolver` and call its
    :meth:`~AddressResolver.resolve`.

    Raises
    ------
    ValidationError
        for an empty or over-long text.
    NotFoundError
        when no compound scores at least :data:`MIN_SCORE`, or the text is a road address
        ("博山路888号") naming no compound; the message lists the closest names.
    """
    return AddressResolver(compounds, buildings).resolve(text, limit)
