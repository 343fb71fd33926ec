"""The SDK's STS tokens (ADR 0024): short-lived access tokens derived from a server key, refresh
tokens rotated on use, and the secrets a worker's signatures may be made with.

- An access token is ``sts.{worker_id}.{serial}.{expires_at}.{mac}``, ``mac`` an HMAC of the rest
  under a key derived from ``ORCHESTRATOR_SECRET_KEY`` (shared by every gateway). Checking one is
  an HMAC and a clock read: no store round trip. It works until ``expires_at`` (at most
  ``STS_ACCESS_TOKEN_TTL_SECONDS`` after issue, by each gateway's clock) and cannot be revoked
  earlier but by changing ``ORCHESTRATOR_SECRET_KEY``.
- A refresh token is random; the store knows its SHA-256 only. Each use replaces it; the one
  replaced still works for ``STS_REFRESH_GRACE_SECONDS`` (the SDK may spend it twice at once).
- The store keeps each worker's newest serials (``actors/ports/store/sts.py``), so the access
  tokens issued within the refresh lifetime can be recomputed: the SDK may sign with one of them
  while it sends another (``signing_keys``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from actors.ports.store import Issued, StsGrants
from actors.ports.store.sts import ISSUED
from engine import defaults
from transport.app.toml_tables import token_digest

PREFIX = "sts."
_KEY_LABEL = b"avtomat sts access tokens v1"
_REMEMBERED = 4096  # workers whose last off-header signing key a gateway remembers


@dataclass(frozen=True, slots=True)
class Grant:
    """What ``POST /_worker/auth/token`` and ``.../refresh`` answer (rxon ``TokenResponse``)."""

    access_token: str
    expires_in: int
    worker_id: str
    refresh_token: str


class TokenService:
    """Issues and checks one deployment's STS tokens; ``secret_key`` is ``ORCHESTRATOR_SECRET_KEY``
    (empty: STS is off, every access token is refused and none is issued)."""

    def __init__(
        self,
        store: StsGrants,
        secret_key: str,
        access_ttl: int = defaults.STS_ACCESS_TOKEN_TTL_SECONDS,
        refresh_ttl: int = defaults.STS_REFRESH_TOKEN_TTL_SECONDS,
        grace: float = defaults.STS_REFRESH_GRACE_SECONDS,
    ) -> None:
        self._store, self.access_ttl, self.refresh_ttl, self._grace = store, access_ttl, refresh_ttl, grace
        self._key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest() if secret_key else b""
        # worker id -> (the access token its signatures were last made with, usable until)
        self._remembered: OrderedDict[str, tuple[str, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    def _token(self, worker_id: str, serial: str, expires_at: int) -> str:
        body = f"{worker_id}.{serial}.{expires_at}"
        mac = hmac.new(self._key, f"sts-access|{body}".encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
        return f"{PREFIX}{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def access_worker(self, token: str, now: float) -> str | None:
        """The worker ``token`` was issued to, if it is an access token of this deployment that has
        not expired at ``now``; else None. Constant time in the MAC."""
        if not self._key or not token.startswith(PREFIX):
            return None
        parts = token[len(PREFIX) :].rsplit(".", 3)
        if len(parts) != 4 or not (parts[2].isascii() and parts[2].isdigit() and len(parts[2]) <= 12):
            return None
        worker_id, serial, expires_at, _ = parts
        expected = self._token(worker_id, serial, int(expires_at))
        if not hmac.compare_digest(
            expected.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape")
        ):
            return None
        return worker_id if now < int(expires_at) else None

    async def issue(self, worker_id: str, now: float) -> Grant:
        """A new access and refresh token for ``worker_id`` (authenticated by the caller)."""
        grant = await self.refresh(worker_id, now, None)
        if not isinstance(grant, Grant):  # nothing to replace: the store's contract says it never refuses
            raise RuntimeError(f"the store refused to issue a token without a refresh token: {grant}")
        return grant

    async def refresh(self, worker_id: str, now: float, replacing: str | None) -> Grant | str:
        """A new access and refresh token for ``worker_id`` if ``replacing`` (a refresh token) is the
        worker's and still works, else why not (``actors.ports.store.sts``); None: nothing to replace."""
        serial = secrets.token_urlsafe(9)
        expires_at = int(now) + self.access_ttl
        refresh = "rt." + secrets.token_urlsafe(32)
        outcome = await self._store.sts_issue(
            worker_id,
            Issued(serial, now, float(expires_at)),
            token_digest(refresh).hex(),
            float(self.refresh_ttl),
            keep=defaults.STS_SIGNING_KEYS_KEPT,
            replacing=None if replacing is None else token_digest(replacing).hex(),
            grace=self._grace,
        )
        if outcome != ISSUED:
            return outcome
        access = self._token(worker_id, serial, expires_at)
        return Grant(access, expires_at - int(now), worker_id, refresh)

    def remembered(self, worker_id: str, now: float) -> tuple[str, ...]:
        """The access token ``worker_id``'s signatures last matched on this gateway, while usable."""
        found = self._remembered.get(worker_id)
        return (found[0],) if found is not None and now < found[1] else ()

    async def signing_keys(self, worker_id: str, now: float) -> list[tuple[str, float]]:
        """``(token, usable until)`` of every access token of ``worker_id`` issued within the refresh
        lifetime that the store still lists (its newest ``STS_SIGNING_KEYS_KEPT``): one round trip."""
        if not self._key:
            return []
        issued = await self._store.sts_issued(worker_id)
        keys = [(self._token(worker_id, i.serial, int(i.expires_at)), i.issued_at + self.refresh_ttl) for i in issued]
        return [(token, until) for token, until in keys if now < until]

    def remember(self, worker_id: str, token: str, until: float) -> None:
        """Note that ``worker_id`` signs with the access ``token`` (found by ``signing_keys``), so the
        next signature costs no store read, until ``until`` (its issue plus the refresh lifetime)."""
        self._remembered[worker_id] = (token, until)
        self._remembered.move_to_end(worker_id)
        while len(self._remembered) > _REMEMBERED:
            self._remembered.popitem(last=False)
