"""Signatures on RXON messages, in rxon's canonical form (``rxon.security.sign_payload``).

Workers sign with their token and put the result in ``security.signature``; the orchestrator
signs task payloads with ``orchestrator_secret_key`` into ``sig``. Worker signatures are checked
against the JSON object exactly as received (minus ``security`` and the ignored fields), so
fields this server does not model still count, as they did for the signer.
"""

from __future__ import annotations

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


def check_worker_signature(
    message: SignedMessage,
    raw: dict[str, Any],
    *,
    worker_id: str,
    secret: str,
    now: float,
    ignore_fields: list[str] | None = None,
) -> None:
    """Raise 403 unless ``message`` is unsigned or validly signed by ``worker_id`` recently.

    Unsigned messages pass: the SDK does not sign when it runs with its placeholder token. An
    identical resend carries the same valid signature and passes again (no nonce cache); results
    are idempotent downstream instead.
    """
    security = message.security
    if security is None or not security.signature:
        return
    # rxon compares str digests: one with non-ASCII characters would be a TypeError, not a refusal.
    if not security.signature.isascii() or not verify_signature(
        raw, security.signature, secret, ignore_fields=ignore_fields
    ):
        raise web.HTTPForbidden(text="signature does not match the message (security.signature)")
    if security.signer_id is not None and security.signer_id != worker_id:
        raise web.HTTPForbidden(text=f"security.signer_id {security.signer_id!r} does not match worker {worker_id!r}")
    if message.timestamp is not None and abs(now - message.timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise web.HTTPForbidden(
            text=f"signed message timestamp {message.timestamp} is more than "
            f"{MAX_CLOCK_SKEW_SECONDS:.0f} s away from server time {int(now)}"
        )


def sign_task(payload: TaskPayload, secret: str) -> TaskPayload:
    """``payload`` with ``sig`` set the way the SDK verifies it; unchanged if there is no secret."""
    if not secret:
        return payload
    sig = sign_payload(payload, secret, ignore_fields=TASK_SIGNATURE_IGNORED)
    return msgspec.structs.replace(payload, sig=sig)
