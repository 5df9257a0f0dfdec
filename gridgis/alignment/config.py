"""Thresholds of the alignment steps, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gridgis.errors import ValidationError
from gridgis.layers.grid import HOUSEHOLD_RANGE as GRID_HOUSEHOLDS
from gridgis.layers.micro_grid import HOUSEHOLD_RANGE as MICRO_GRID_HOUSEHOLDS


@dataclass(frozen=True)
class AlignmentConfig:
    """Every threshold the alignment steps use.

    Parameters
    ----------
    household_min, household_max
        The household range of a grid (default :data:`gridgis.layers.grid.HOUSEHOLD_RANGE`, 300–500).
    large_compound_households
        A compound with more households than this is *large*: it may be split between grids,
        but only along building lines. ``None`` means ``household_max``.
    sliver_area_m2, sliver_share
        An overlap piece smaller than ``sliver_area_m2`` m² or than ``sliver_share`` of its
        compound's area is a digitising sliver and is ignored.
    minor_share
        A cut compound whose smaller pieces together hold less than this share of its area
        (and of its households) is "cut with a minor piece": an easy fix.
    grid_size_m
        Precision of the planar partition in the metric CRS (metres). Every output vertex lies
        on this grid, which is what makes the proposed grids an exact coverage.
    rebalance
        Move whole compounds or building pieces between neighbouring grids to bring households
        into range.
    split_merge
        When moving pieces is not enough: cut a grid over the range in two along compound (or
        whole-building) lines, the new one taking the next free code of the community, and merge
        a grid under the range into its smallest neighbour when both fit together.
    microgrid_min, microgrid_max
        The household range of a micro-grid (default 30–100).
    land_with_compounds
        Open land (outside every compound) moves with the compound it is nearest to, cut along
        the Voronoi lines between compound outlines, so grid lines follow compound walls and
        the middle of the land between them (compact grids). Off: every land piece between old
        grid lines moves on its own.
    road_max_rank
        With a road layer, roads of this rank or a more major one cut open land before the Voronoi
        lines do (:func:`gridgis.alignment.roads.road_rank`: 1 motorway, 2 trunk, 3 primary,
        4 secondary, 5 tertiary, 6 residential/unclassified, 7 living street, 8 service, 9 footway
        and other paths). Default 6: streets cut; service roads and footways (inside compounds,
        across squares) do not.

    Examples
    --------
    >>> AlignmentConfig().large_households
    500
    >>> AlignmentConfig.from_dict({"household_max": 600}).household_max
    600
    """

    household_min: int = GRID_HOUSEHOLDS[0]
    household_max: int = GRID_HOUSEHOLDS[1]
    large_compound_households: int | None = None
    sliver_area_m2: float = 5.0
    sliver_share: float = 0.01
    minor_share: float = 0.2
    grid_size_m: float = 0.0001
    rebalance: bool = True
    split_merge: bool = True
    max_moves: int = 2000
    microgrid_min: int = MICRO_GRID_HOUSEHOLDS[0]
    microgrid_max: int = MICRO_GRID_HOUSEHOLDS[1]
    land_with_compounds: bool = True
    road_max_rank: int = 6

    def __post_init__(self) -> None:
        if (
            self.max_moves < 0
            or self.sliver_area_m2 < 0
            or not 0 <= self.sliver_share <= 1
            or not 0 <= self.minor_share <= 1
        ):
            raise ValidationError(
                "alignment config: max_moves and sliver_area_m2 must not be negative; "
                "sliver_share and minor_share lie in [0, 1]"
            )
        if not 0 <= self.household_min <= self.household_max:
            raise ValidationError(
                f"alignment config: household range {self.household_min}–{self.household_max} "
                "is empty; give household_min <= household_max"
            )
        if not 0 < self.microgrid_min <= self.microgrid_max:
            raise ValidationError(
                f"alignment config: micro-grid range {self.microgrid_min}–{self.microgrid_max} "
                "is empty; give 0 < microgrid_min <= microgrid_max"
            )
        if self.grid_size_m <= 0 or self.grid_size_m > 0.1:
            raise ValidationError(f"alignment config: grid_size_m={self.grid_size_m} must lie in (0, 0.1] metres")

    @property
    def large_households(self) -> int:
        """The household count above which a compound is large."""
        return self.household_max if self.large_compound_households is None else self.large_compound_households

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> AlignmentConfig:
        """Build a config from a mapping, refusing unknown keys by name."""
        values = dict(values or {})
        known = cls.__dataclass_fields__
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValidationError(f"alignment config: unknown setting(s) {unknown}; known: {sorted(known)}")
        typed: dict[str, Any] = {}
        for name, value in values.items():
            kind = str(known[name].type)
            try:
                if value is None and "None" in kind:
                    typed[name] = None
                elif kind.startswith("bool"):
                    if not isinstance(value, bool):
                        raise ValueError("expected true or false")
                    typed[name] = value
                elif kind.startswith("int"):
                    if isinstance(value, bool) or float(value) != int(float(value)):
                        raise ValueError("expected a whole number")
                    typed[name] = int(float(value))
                else:
                    typed[name] = float(value)
                    if typed[name] != typed[name] or typed[name] in (float("inf"), float("-inf")):
                        raise ValueError("expected a finite number")
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValidationError(f"alignment config: {name}={value!r} is not valid ({exc})") from None
        return cls(**typed)

    def with_(self, **changes: Any) -> AlignmentConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)
