"""Serving a province on several processes and machines: routing pools per county behind nginx
(:mod:`gridgis.scale.nginx`, :mod:`gridgis.scale.units`), batch jobs on Dask
(:mod:`gridgis.scale.batch`) and multi-county samples to test them (:mod:`gridgis.scale.province`).
See docs/scaling.md."""
