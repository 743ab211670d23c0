"""JSON responses for the hot read views, from plain values instead of validated models.

FastAPI validates a view's return value against ``response_model`` (in a worker thread, for a
sync view) before it serialises it. The hot lists (``GET /alerts``, a meter's readings) return
``unvalidated_json_response(values)`` instead: the values laid out field by field as their
response model, given to the same pydantic serialiser, which writes the same bytes as for the
model built from them (``tests/api/test_responses.py`` pins it), without validating every item,
which cost more than the query. The route keeps ``response_model=...`` for its OpenAPI schema.
"""

from __future__ import annotations

from fastapi import Response
from pydantic_core import to_json


def unvalidated_json_response(values: dict) -> Response:
    """``values`` (a response model's fields, in its order, nested the same way) as that model's JSON body."""
    # NaN and infinities as null, as pydantic writes them for a model (to_json's default writes NaN).
    return Response(content=to_json(values, inf_nan_mode="null"), media_type="application/json")
