"""People and organisations on the map (issue 15): the party network, members and volunteers,
responsibility by building, wishes, star points, assessment indices, care, the emergency roster
and 12345 intake — every person and task placed by the same routing index as tickets.

- :mod:`~gridgis.people.model` vocabulary; :mod:`~gridgis.people.tables` tables (migration 0004_people)
- :mod:`~gridgis.people.placement` the one placement rule (building code → address → work area)
- :mod:`~gridgis.people.store` organisations, persons, assignments, activities; ``import_members``
- :mod:`~gridgis.people.responsibility` coverage check, map layer, boundary follow-up
- :mod:`~gridgis.people.wishes` 微心愿 state machine and nearest claimers
- :mod:`~gridgis.people.points` star points; :mod:`~gridgis.people.assessment` the four indices
- :mod:`~gridgis.people.care` care register and door-knocking; :mod:`~gridgis.people.roster` 平急转换 roster
- :mod:`~gridgis.people.intake` 12345 orders; :mod:`~gridgis.people.access` privacy rules
"""
