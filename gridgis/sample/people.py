"""Synthetic people for the sample city: names, phone numbers and grid workers.

Phone numbers are synthetic (``138`` followed by eight digits drawn from the seed);
names are common Chinese surnames and given names put together at random.
"""

from __future__ import annotations

import numpy as np

from gridgis.sample import names as N


def person_name(rng: np.random.Generator) -> str:
    """A plausible Chinese full name."""
    return N.SURNAMES[int(rng.integers(len(N.SURNAMES)))] + N.GIVEN[int(rng.integers(len(N.GIVEN)))]


def phone(rng: np.random.Generator) -> str:
    """A synthetic mobile number ``138xxxxxxxx``."""
    return f"138{int(rng.integers(0, 10**8)):08d}"


def landline(rng: np.random.Generator) -> str:
    """A synthetic Shanghai landline ``021-5xxxxxxx``."""
    return f"021-5{int(rng.integers(0, 10**7)):07d}"


def workers_for_grid(rng: np.random.Generator) -> list[dict[str, str]]:
    """One full-time worker, zero to two part-time and sometimes an auxiliary worker."""
    out = [{"name": person_name(rng), "role": "full_time", "phone": phone(rng)}]
    for _ in range(int(rng.integers(0, 3))):
        out.append({"name": person_name(rng), "role": "part_time", "phone": phone(rng)})
    if rng.random() < 0.4:
        out.append({"name": person_name(rng), "role": "auxiliary", "phone": phone(rng)})
    return out


def worker_for_micro_grid(rng: np.random.Generator) -> list[dict[str, str]]:
    """The one (usually part-time) worker of a micro-grid."""
    role = "part_time" if rng.random() < 0.75 else "auxiliary"
    return [{"name": person_name(rng), "role": role, "phone": phone(rng)}]
