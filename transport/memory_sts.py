"""The in-memory store's STS part (``actors/ports/store/sts.py``), with the Redis script's
semantics in one process: each method runs without an ``await``, so it is atomic on the loop."""

from __future__ import annotations

from dataclasses import dataclass

from actors.ports.store.sts import ISSUED, OTHER_WORKER, STALE, UNKNOWN, Issued


@dataclass(slots=True)
class _Refresh:
    worker_id: str
    expires_at: float
    replaced_at: float | None = None


class MemorySts:
    """``StsGrants`` in memory."""

    def __init__(self) -> None:
        self._issued: dict[str, list[Issued]] = {}  # worker id -> newest first
        self._refresh: dict[str, _Refresh] = {}  # refresh token digest -> what it is

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
        now = issued.issued_at
        if replacing is not None:
            old = self._refresh.get(replacing)
            if old is None or old.expires_at <= now:
                self._refresh.pop(replacing, None)
                return UNKNOWN
            if old.worker_id != worker_id:
                return OTHER_WORKER
            if old.replaced_at is not None and now - old.replaced_at > grace:
                return STALE
            if old.replaced_at is None:
                old.replaced_at = now
        self._refresh[refresh_digest] = _Refresh(worker_id, now + refresh_ttl)
        recent = [i for i in self._issued.get(worker_id, []) if i.issued_at > now - refresh_ttl]
        self._issued[worker_id] = [issued, *recent][:keep]
        self._prune(now)
        return ISSUED

    def _prune(self, now: float) -> None:
        """Drop expired refresh tokens now and then, as Redis expires them."""
        if len(self._refresh) % 64 == 0:
            for digest in [d for d, r in self._refresh.items() if r.expires_at <= now]:
                del self._refresh[digest]

    async def sts_issued(self, worker_id: str) -> list[Issued]:
        return list(self._issued.get(worker_id, []))
