"""Validation of the body of a job-creation request (``POST <blueprint endpoint>``).

JSON ``null`` counts as absent for every optional field; unknown top-level keys are ignored.
Each error names the field and what was wrong with it.

``security`` (an rxon ``SecurityContext``: ``signature``, ``signer_id``, ``identity_chain``,
``metadata``) and ``metadata`` (any object) reach every task of the job, as upstream's do;
``policy.allowed_skills`` (a list of skill names) limits the task types the job may dispatch
(``engine.policy.skills_refusal``: a dispatch of another fails the job) and reaches the tasks too,
so the SDK checks it as well. Other keys of ``policy`` are ignored.

``webhook_url`` must be http(s) with a host; unless ``WEBHOOK_ALLOW_PRIVATE``, its host must
also resolve, and to public addresses only (``check_webhook_url``, after parsing: it may resolve
the name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web
from rxon.models import SecurityContext

from transport.webhook_addresses import check_url


@dataclass(frozen=True, slots=True)
class JobRequest:
    initial_data: dict[str, Any]
    webhook_url: str | None
    dispatch_timeout: float | None
    result_timeout: float | None
    max_transitions: int | None
    security: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    allowed_skills: list[str] | None = None


def parse_job_request(body: dict[str, Any]) -> JobRequest:
    return JobRequest(
        initial_data=_object(body, "initial_data"),
        webhook_url=_url(body, "webhook_url"),
        dispatch_timeout=_seconds(body, "dispatch_timeout"),
        result_timeout=_seconds(body, "result_timeout"),
        max_transitions=_positive_int(body, "max_transitions"),
        security=_security(body),
        metadata=_object(body, "metadata") if body.get("metadata") is not None else None,
        allowed_skills=_allowed_skills(body),
    )


def _security(body: dict[str, Any]) -> dict[str, Any] | None:
    """``security`` checked against rxon's ``SecurityContext``, kept as the client sent it."""
    value = body.get("security")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("security", "must be a JSON object", value)
    try:
        msgspec.convert(value, SecurityContext)
    except msgspec.ValidationError as exc:
        raise _invalid("security", f"must be a SecurityContext ({exc})", value) from None
    return value


def _allowed_skills(body: dict[str, Any]) -> list[str] | None:
    policy = body.get("policy")
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise _invalid("policy", "must be a JSON object", policy)
    skills = policy.get("allowed_skills")
    if skills is None:
        return None
    if not isinstance(skills, list) or not all(isinstance(s, str) and s for s in skills):
        raise _invalid("policy.allowed_skills", "must be a list of skill names (non-empty strings)", skills)
    return list(skills)


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
