"""Webhook signatures, the Standard Webhooks way (https://www.standardwebhooks.com).

Every delivery carries three headers:

- ``webhook-id``: the delivery's id, the same on every attempt (and on a redelivery);
- ``webhook-timestamp``: the attempt's time, integer seconds since the epoch;
- ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``.

The key comes from ``WEBHOOK_SECRET``: a ``whsec_<base64>`` secret (what Standard Webhooks
libraries take) is base64-decoded after the prefix; any other value is used as its UTF-8 bytes.
Either way it must give at least ``MIN_KEY_BYTES`` bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
MIN_KEY_BYTES = 16


def key_of(secret: str) -> bytes:
    """The HMAC key ``secret`` stands for; ``ValueError`` if it is malformed or too short."""
    if secret.startswith(PREFIX):
        try:
            key = base64.b64decode(secret[len(PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError(f"a {PREFIX} secret must be followed by base64") from None
    else:
        key = secret.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"must give at least {MIN_KEY_BYTES} bytes of key")
    return key


def generate_secret() -> str:
    """A fresh ``whsec_`` secret of 24 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one attempt."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header an attempt carries."""
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, webhook_id, timestamp, body),
    }
