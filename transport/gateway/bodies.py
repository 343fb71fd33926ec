"""Reading request bodies: JSON objects only, rxon models decoded strictly.

Errors name the problem: 400 for an empty body, invalid JSON, JSON that is not an object, or an
object that does not decode into the expected model; 413 (via ``errors``) for a body over
``client_max_size``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import orjson
from aiohttp import web

M = TypeVar("M", bound=msgspec.Struct)


async def read_optional_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when the body is empty (or only whitespace)."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=f"request body must be a JSON object, got {_json_type(data)}")
    return data


async def read_object(request: web.Request) -> dict[str, Any]:
    data = await read_optional_object(request)
    if data is None:
        raise web.HTTPBadRequest(text="request body is empty; expected a JSON object")
    return data


def decode_model(model: type[M], data: dict[str, Any]) -> M:
    """Decode ``data`` into an rxon model; unknown keys are ignored, as RXON requires."""
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        raise web.HTTPBadRequest(text=f"invalid {model.__name__}: {exc}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"
