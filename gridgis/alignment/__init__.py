"""Alignment (拉平对齐): make grid lines follow compound boundaries, split micro-grids, and suggest the
party-organisation structure. Pure functions on layer frames (EPSG:4326), computing in the metric CRS.

- :func:`analyze` — overlaps of compounds and grids (area, households), the three cases of practice,
  cut compounds, coverage defects, and a problems layer (:mod:`~gridgis.alignment.report`).
- :func:`propose_alignment` — new grid boundaries as an exact coverage, with impact and explanations
  (:mod:`~gridgis.alignment.propose`); :func:`apply_proposal` stores them as a new generation.
- :func:`split_microgrids` — micro-grids of whole buildings (:mod:`~gridgis.alignment.microgrid`).
- :func:`party_structure` — the organisation per case, as a tree and a table (:mod:`~gridgis.alignment.party`).
- :func:`validate_coverage` — the coverage invariant, run on the input and output of every step.

>>> from gridgis.alignment import AlignmentConfig
>>> AlignmentConfig().household_max
500
"""

from gridgis.alignment.apply import ApplyResult, apply_proposal, load_community
from gridgis.alignment.classify import CASES, classify_clusters, compound_status
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.microgrid import split_microgrids
from gridgis.alignment.overlap import assign_buildings, compound_grid_overlaps
from gridgis.alignment.party import PartyStructure, party_structure
from gridgis.alignment.propose import Proposal, propose_alignment
from gridgis.alignment.report import Analysis, analyze, proposal_report
from gridgis.alignment.validate import CoverageReport, validate_coverage

__all__ = [
    "CASES",
    "AlignmentConfig",
    "Analysis",
    "ApplyResult",
    "CoverageReport",
    "PartyStructure",
    "Proposal",
    "analyze",
    "apply_proposal",
    "assign_buildings",
    "classify_clusters",
    "compound_grid_overlaps",
    "compound_status",
    "load_community",
    "party_structure",
    "proposal_report",
    "propose_alignment",
    "split_microgrids",
    "validate_coverage",
]
