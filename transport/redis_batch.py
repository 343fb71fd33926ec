"""Automatic pipelining: the Redis commands issued in one turn of the event loop go out together.

Under load a node or a gateway has many activations in flight, each making a store call or two.
Sent one at a time, every command costs a socket write, a read and redis-py's own work per
command, about 200 us of CPU on the benchmark machine; sent as one pipeline of ten, about a
third of that each (docs/performance.md). Nothing waits for a batch to fill: a batch leaves on
the next turn of the loop, so a lone command is late by one turn, not by a timer.

Each command keeps its own outcome: an error reply (a script's ``error_reply``, a wrong type)
fails its caller only. A broken connection fails every command of the batch, each caller seeing
the error it would have seen alone, and redis-py re-sends the batch exactly as it re-sends a
single command (``transport.redis_store`` says what a re-send means for each call).

Scripts go by ``EVALSHA``; a server that does not know one yet (a restart flushed its script
cache) answers ``NOSCRIPT`` and that call alone is re-run through ``Script``, which loads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from time import perf_counter
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from actors.stats import IO_BUCKETS, Histogram

_Pending = list[tuple[tuple[EncodableT, ...], "asyncio.Future[Any]"]]


class Batcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: _Pending = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self.round_trips = Histogram(IO_BUCKETS)  # seconds per pipelined batch, answered

    async def execute(self, *command: EncodableT) -> Any:
        """Send ``command`` (``"HMGET", key, field, ...``) with whatever else this turn sends;
        returns its reply as redis-py parses it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send)
        self._pending.append((command, future))
        return await future

    async def script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[EncodableT]) -> Any:
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await script(keys=keys, args=args)

    async def drain(self) -> None:
        """Wait for the batches sent so far (and the one about to leave) to be answered."""
        await asyncio.sleep(0)  # let a scheduled ``_send`` run
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _send(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._round_trip(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _round_trip(self, batch: _Pending) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for command, _ in batch:
            pipe.execute_command(*command)
        try:
            sent = perf_counter()
            replies = await pipe.execute(raise_on_error=False)
            self.round_trips.observe(perf_counter() - sent)
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the connection broke: every caller of the batch hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
