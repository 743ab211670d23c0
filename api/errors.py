"""The API's error vocabulary, and the handlers that turn every error into JSON ``{"detail": ...}``.

Service functions raise ``PermissionDenied`` or ``InvalidRequest`` (or a store error); they know
nothing of HTTP. The handlers installed here map them, and the store's errors, to status codes:

========================  ======
``NotFound``              404
``InvalidTransition``     409
``PermissionDenied``      403
``InvalidRequest``        422
``InvalidData``           422
``StoreUnavailable``      503
========================  ======
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.errors import InvalidData, InvalidTransition, NotFound, StoreUnavailable


class ServiceError(Exception):
    """Base class of the errors raised by the API's service functions."""


class PermissionDenied(ServiceError):
    """The user's role may not do this; the message says who may."""


class InvalidRequest(ServiceError):
    """The request is well-formed but cannot be served as asked; the message says what to change."""


class ErrorMessage(BaseModel):
    """Every error response: one message that says what to do next."""

    detail: str


_DESCRIPTIONS = {
    401: "No token, or an unknown one",
    403: "The user's role may not do this",
    404: "No such record",
    409: "The alert is not in a state that allows this",
    422: "A parameter or the body is invalid",
    503: "A store is unavailable; retry later",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses a route can give, all shaped as ``ErrorMessage``."""
    return {code: {"model": ErrorMessage, "description": _DESCRIPTIONS[code]} for code in codes}


def _json(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no route {request.url.path}; the routes are listed at /docs"
    elif exc.status_code == 405 and detail == "Method Not Allowed":
        detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the methods it takes"
    return _json(exc.status_code, str(detail), getattr(exc, "headers", None))


def describe_validation_errors(errors: Sequence[dict[str, Any]]) -> str:
    """One readable sentence from pydantic's error list, naming each bad parameter and its value."""
    parts = []
    for error in errors:
        loc = list(error.get("loc", ()))
        source = loc.pop(0) if loc and loc[0] in ("query", "path", "body", "header") else None
        name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        name = name or (f"the request {source}" if source else "the request")
        message = f"{name}: {error.get('msg', 'invalid')}"
        value = error.get("input")
        if error.get("type") != "missing" and isinstance(value, str | int | float):
            message += f" (got {value!r})"
        parts.append(message)
    return "invalid request: " + "; ".join(parts) + ". The parameters are described at /docs"


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _json(422, describe_validation_errors(exc.errors()))


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return _json(404, str(exc))


async def _invalid_transition(request: Request, exc: InvalidTransition) -> JSONResponse:
    return _json(409, f"{exc}; fetch the alert again to see its current status")


async def _permission_denied(request: Request, exc: PermissionDenied) -> JSONResponse:
    return _json(403, str(exc))


async def _invalid_request(request: Request, exc: InvalidRequest) -> JSONResponse:
    return _json(422, str(exc))


async def _invalid_data(request: Request, exc: InvalidData) -> JSONResponse:
    return _json(422, f"{exc}; send text without NUL characters and numbers in range")


async def _store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
    return _json(503, f"{exc}; retry later", {"Retry-After": "30"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return _json(500, "internal error; the server log has the details. Retry, and report it if it persists")


def install(app: FastAPI) -> None:
    """Install every handler on ``app``."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(InvalidTransition, _invalid_transition)
    app.add_exception_handler(PermissionDenied, _permission_denied)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(InvalidData, _invalid_data)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
