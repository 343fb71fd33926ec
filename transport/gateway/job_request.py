"""Validation of the body of a job-creation request (``POST <blueprint endpoint>``).

JSON ``null`` counts as absent for every optional field; unknown top-level keys are ignored.
Each error names the field and what was wrong with it.

``webhook_url`` must be http(s) with a host; unless ``WEBHOOK_ALLOW_PRIVATE``, its host must
also resolve, and to public addresses only (``check_webhook_url``, after parsing: it may resolve
the name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from transport.webhook_addresses import check_url


@dataclass(frozen=True, slots=True)
class JobRequest:
    initial_data: dict[str, Any]
    webhook_url: str | None
    dispatch_timeout: float | None
    result_timeout: float | None
    max_transitions: int | None


def parse_job_request(body: dict[str, Any]) -> JobRequest:
    return JobRequest(
        initial_data=_object(body, "initial_data"),
        webhook_url=_url(body, "webhook_url"),
        dispatch_timeout=_seconds(body, "dispatch_timeout"),
        result_timeout=_seconds(body, "result_timeout"),
        max_transitions=_positive_int(body, "max_transitions"),
    )


async def check_webhook_url(job: JobRequest, *, allow_private: bool) -> None:
    """400 naming ``webhook_url`` if it may not be called; 503 if its host's name did not resolve
    in time (the client may try again)."""
    if job.webhook_url is None:
        return
    try:
        await check_url(job.webhook_url, allow_private=allow_private)
    except ValueError as exc:
        raise _invalid("webhook_url", str(exc), job.webhook_url) from None
    except TimeoutError:
        raise web.HTTPServiceUnavailable(text="webhook_url: its host's name did not resolve in time") from None


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(name, "must be a JSON object", value)
    return value


def _url(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "must be an http(s) URL string", value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(name, "must be an http(s) URL with a host", value)
    return value


def _seconds(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(name, "must be a positive number of seconds", value)
    if not (math.isfinite(value) and value > 0):
        raise _invalid(name, "must be a positive number of seconds", value)
    return float(value)


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid(name, "must be a positive integer", value)
    return value


def _invalid(name: str, requirement: str, value: Any) -> web.HTTPBadRequest:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return web.HTTPBadRequest(text=f"{name} {requirement}, got {shown}")
