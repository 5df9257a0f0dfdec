"""The FastAPI service: thin routers over the library. Build it with :func:`create_app`."""

from gridgis.api.app import create_app

__all__ = ["create_app"]
