"""Request and response models of the HTTP API, one module per area.

They are the contract published in ``/openapi.json``: every operation names its 2xx response
model, every write its request body (:func:`request_body` for routers that read the raw body
themselves, to answer 413/415 before parsing), and every error is a :class:`~.common.Problem`
(``application/problem+json``). Models allow extra members where the answer carries
open-ended data (layer properties, report figures) and list the members clients rely on.
"""

from gridgis.api.schemas.common import ERROR_RESPONSES, Problem, install_openapi, request_body

__all__ = ["ERROR_RESPONSES", "Problem", "install_openapi", "request_body"]
