"""Tickets: who must act on a citizen's report, by when, and the closed loop to "done".

- :mod:`~gridgis.tickets.catalogue` — the matter catalogue (吹哨报到事项清单, default 6 domains / 28 items)
- :mod:`~gridgis.tickets.calendar` — working time with Chinese holidays and 调休 days (2025, 2026)
- :mod:`~gridgis.tickets.loop` — the closed loop as a pure state machine
- :mod:`~gridgis.tickets.dispatch` — routing interface, first level by tier, deadlines
- :mod:`~gridgis.tickets.store` — :class:`TicketStore`: persistence on SQLite/PostGIS, escalation,
  duplicates, statistics (:mod:`~gridgis.tickets.stats`)
- :mod:`~gridgis.tickets.open311` — Open311 GeoReport v2 mapping (JSON and XML)
- :mod:`~gridgis.tickets.importer`, :mod:`~gridgis.tickets.simulate`, :mod:`~gridgis.tickets.escalator`
"""
