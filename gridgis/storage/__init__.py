"""Storage: one repository over SQLAlchemy 2 — an embedded SQLite file by default, PostGIS in production.

See :class:`gridgis.storage.repository.Repository` for the contract every backend keeps.
"""

from gridgis.storage.repository import Generation, Repository

__all__ = ["Generation", "Repository"]
