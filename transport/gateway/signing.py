"""Signatures on RXON messages, in rxon's canonical form (``rxon.security.sign_payload``).

Workers sign with their token and put the result in ``security.signature``: the SDK signs with its
static token, or with an STS access token it got, not always the one it sends (ADR 0024), so a
signature is checked against several candidate secrets; the orchestrator
signs task payloads with ``orchestrator_secret_key`` into ``sig``. Worker signatures are checked
against the JSON object exactly as received (minus ``security`` and the ignored fields), so
fields this server does not model still count, as they did for the signer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
from aiohttp import web
from rxon.models import SecurityContext, TaskPayload
from rxon.security import sign_payload, verify_signature

# How far a signed message's ``timestamp`` may be from the server clock (replay window).
MAX_CLOCK_SKEW_SECONDS = 300.0

# Fields the SDK leaves out when it verifies a task's ``sig``.
TASK_SIGNATURE_IGNORED = ["sig", "orchestrator_signature"]


class SignedMessage(Protocol):
    @property
    def security(self) -> SecurityContext | None: ...

    @property
    def timestamp(self) -> int | None: ...


async def check_worker_signature(
    message: SignedMessage,
    raw: dict[str, Any],
    *,
    worker_id: str,
    secrets: Sequence[str],
    now: float,
    more: Callable[[], Awaitable[Sequence[str]]] | None = None,
    ignore_fields: list[str] | None = None,
) -> str | None:
    """Raise 403 unless ``message`` is unsigned or validly signed by ``worker_id`` recently, with
    one of ``secrets`` or else of ``await more()`` (asked only when none of ``secrets`` matches);
    returns the secret that matched (None: unsigned).

    Unsigned messages pass: the SDK does not sign when it runs with its placeholder token. An
    identical resend carries the same valid signature and passes again (no nonce cache); results
    are idempotent downstream instead.
    """
    security = message.security
    if security is None or not security.signature:
        return None
    signature = security.signature
    # rxon compares str digests: one with non-ASCII characters would be a TypeError, not a refusal.
    matched = _signed_with(raw, signature, secrets, ignore_fields) if signature.isascii() else None
    if matched is None and more is not None and signature.isascii():
        matched = _signed_with(raw, signature, await more(), ignore_fields)
    if matched is None:
        raise web.HTTPForbidden(text="signature does not match the message (security.signature)")
    if security.signer_id is not None and security.signer_id != worker_id:
        raise web.HTTPForbidden(text=f"security.signer_id {security.signer_id!r} does not match worker {worker_id!r}")
    if message.timestamp is not None and abs(now - message.timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise web.HTTPForbidden(
            text=f"signed message timestamp {message.timestamp} is more than "
            f"{MAX_CLOCK_SKEW_SECONDS:.0f} s away from server time {int(now)}"
        )
    return matched


def _signed_with(
    raw: dict[str, Any], signature: str, secrets: Sequence[str], ignore_fields: list[str] | None
) -> str | None:
    for secret in secrets:
        if secret and verify_signature(raw, signature, secret, ignore_fields=ignore_fields):
            return secret
    return None


def sign_task(payload: TaskPayload, secret: str) -> TaskPayload:
    """``payload`` with ``sig`` set the way the SDK verifies it; unchanged if there is no secret."""
    if not secret:
        return payload
    sig = sign_payload(payload, secret, ignore_fields=TASK_SIGNATURE_IGNORED)
    return msgspec.structs.replace(payload, sig=sig)
