"""The gateways' shared STS state on Redis (``actors/ports/store/sts.py``): one script per token
issued, one ``ZREVRANGE`` to read a worker's issued serials; both through the batcher."""

from __future__ import annotations

from typing import cast

from actors.ports.store.sts import Issued
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart, ms


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisSts(RedisPart):
    """``StsGrants`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._sts_issue = client.script("sts_issue")

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
        p = self._prefix
        fresh = keys.sts_refresh(p, refresh_digest)
        script_keys = [keys.sts_issued(p, worker_id), fresh, keys.sts_refresh(p, replacing) if replacing else fresh]
        member = f"{issued.serial}|{issued.expires_at!r}"
        args: list[str | int] = [
            worker_id,
            repr(issued.issued_at),
            member,
            ms(refresh_ttl),
            keep,
            "1" if replacing else "0",
            repr(grace),
            repr(refresh_ttl),
        ]
        reply = await self._batch.script(self._sts_issue, script_keys, args)
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    async def sts_issued(self, worker_id: str) -> list[Issued]:
        raw = await self._batch.execute("ZREVRANGE", keys.sts_issued(self._prefix, worker_id), 0, -1, "WITHSCORES")
        issued = []
        for member, score in cast("list[tuple[bytes, float]]", raw):
            serial, _, expires_at = member.decode().partition("|")
            issued.append(Issued(serial, float(score), float(expires_at)))
        return issued
