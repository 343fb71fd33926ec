"""What the gateways share about the SDK's STS tokens (ADR 0024): each worker's newest access
tokens, by serial, and the live refresh tokens, by digest. No token is stored: an access token is
recomputed from its serial and the server key, a refresh token is known by its SHA-256 only.

- ``sts_issue`` is one atomic step (one Redis script): consuming a refresh token and recording its
  successor cannot be split by gateways racing each other.
- A refresh token used once is replaced, yet works again for ``grace`` seconds (the SDK's rotation
  task and its answer to a 401 may both spend it); later it is ``STALE``. Each use inside the
  grace issues another successor: every one of them works.
- A worker's issued list keeps its newest ``keep`` entries issued within the refresh lifetime.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

ISSUED, UNKNOWN, STALE, OTHER_WORKER = "issued", "unknown", "stale", "other-worker"


class Issued(msgspec.Struct, frozen=True):
    """One access token issued to a worker: its ``serial`` and when it was issued and expires."""

    serial: str
    issued_at: float
    expires_at: float


class StsGrants(Protocol):
    async def sts_issue(
        self,
        worker_id: str,
        issued: Issued,
        refresh_digest: str,
        refresh_ttl: float,
        *,
        keep: int,
        replacing: str | None = None,
        grace: float = 0.0,
    ) -> str:
        """Record ``issued`` and the refresh token ``refresh_digest`` (hex) of ``worker_id``, valid
        ``refresh_ttl`` seconds from ``issued.issued_at``: ``ISSUED``. With ``replacing`` (the digest
        of the refresh token presented), only if that one is live and ``worker_id``'s, else nothing
        is recorded and the answer says why: ``UNKNOWN`` (never issued, or expired),
        ``OTHER_WORKER``, or ``STALE`` (replaced more than ``grace`` seconds ago)."""

    async def sts_issued(self, worker_id: str) -> list[Issued]:
        """The worker's issued access tokens kept, newest first (one round trip)."""
