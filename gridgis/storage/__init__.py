"""Storage: one repository over SQLAlchemy 2 — an embedded SQLite file by default, PostGIS in production.

See :class:`gridgis.storage.repository.Repository` for the contract every backend keeps.
"""

from gridgis.storage.model import FeatureChange, Generation
from gridgis.storage.queries import NOTIFY_CHANNEL
from gridgis.storage.repository import Repository

__all__ = ["NOTIFY_CHANNEL", "FeatureChange", "Generation", "Repository"]
