"""Responses from models a view has already built and validated.

FastAPI validates a view's return value against ``response_model`` again, in another worker
thread for a sync view, before it serialises it. A hot read view returns ``json_response(model)``
instead: the same bytes (the same pydantic serialiser FastAPI would use), without that second
pass. The route keeps ``response_model=...`` for its OpenAPI schema.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel) -> Response:
    """``model`` as the JSON body FastAPI would have made of it."""
    return Response(content=model.model_dump_json(), media_type="application/json")
