"""Outbound webhook delivery over HTTP (aiohttp), one shared session."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp
import orjson


class HttpNotifier:
    """POSTs JSON; any 2xx is success, anything else raises. ``async with`` owns the session."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpNotifier:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __call__(self, url: str, payload: dict[str, Any]) -> None:
        if self._session is None:
            raise RuntimeError("HttpNotifier used outside 'async with'")
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        async with self._session.post(url, data=body, headers=headers) as resp:
            if not 200 <= resp.status < 300:
                raise aiohttp.ClientResponseError(
                    resp.request_info, resp.history, status=resp.status, message=f"webhook answered {resp.status}"
                )
