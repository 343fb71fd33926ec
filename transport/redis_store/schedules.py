"""The schedules' last fires on Redis: one hash, schedule name -> ``"<at>:<job id>"``; a script
records a fire only if it is later than the one recorded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from actors.ports.store import Fire
from transport import keys
from transport.redis_errors import translate_errors
from transport.redis_store.client import RedisClient, RedisPart


@translate_errors  # redis-py\'s "server away" errors leave each public method as StoreUnavailable
class RedisSchedules(RedisPart):
    """``ScheduleStore`` on Redis."""

    def __init__(self, client: RedisClient) -> None:
        RedisPart.__init__(self, client)
        self._record_fire = client.script("record_fire")

    async def last_fires(self, names: Sequence[str]) -> dict[str, Fire]:
        """One HMGET for all of ``names``."""
        if not names:
            return {}
        raw = await self._batch.execute("HMGET", keys.schedule_fires(self._prefix), *names)
        values = cast("list[bytes | None]", raw)
        fires: dict[str, Fire] = {}
        for name, value in zip(names, values, strict=True):
            if value is not None:
                at, _, job_id = value.decode().partition(":")
                fires[name] = Fire(int(at), job_id)
        return fires

    async def record_fire(self, name: str, fire: Fire) -> bool:
        """One script: compare with the recorded fire, then write."""
        script_keys = [keys.schedule_fires(self._prefix)]
        return bool(await self._batch.script(self._record_fire, script_keys, [name, fire.at, fire.job_id]))
