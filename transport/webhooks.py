"""Outbound webhook attempts over HTTP (aiohttp): signed, bounded in time, public addresses only
unless allowed. One shared session; ``async with`` owns it.

An attempt succeeds on any 2xx answer. Anything else raises ``WebhookFailed``: a network error, a
timeout, a non-2xx answer (redirects are not followed: a 3xx fails too), or a refused address
(``transport.webhook_addresses``; not retryable). Proxies from the environment are not used.
"""

from __future__ import annotations

from types import TracebackType
from urllib.parse import urlsplit

import aiohttp

from actors.ports.store import WebhookDelivery
from engine import defaults
from engine.errors import WebhookFailed
from transport.webhook_addresses import GuardedResolver, RefusedAddress, is_ip, refusal
from transport.webhook_signing import headers

_ERROR_BODY_CHARS = 200  # how much of a refusing receiver's answer is kept in ``last_error``


class HttpSender:
    """``actors.webhooks.Sender`` over HTTP, signing with ``key`` (``webhook_signing.key_of``)."""

    def __init__(self, key: bytes, *, allow_private: bool, timeout: float = defaults.WEBHOOK_TIMEOUT_SECONDS) -> None:
        self._key, self._allow_private = key, allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpSender:
        connector = aiohttp.TCPConnector(resolver=None if self._allow_private else GuardedResolver())
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector, trust_env=False)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __call__(self, delivery: WebhookDelivery, timestamp: int) -> None:
        if self._session is None:
            raise RuntimeError("HttpSender used outside 'async with'")
        host = urlsplit(delivery.url).hostname or ""
        if not self._allow_private and is_ip(host) and (reason := refusal(host)):
            raise WebhookFailed(f"refused: {reason}", retryable=False)
        signed = headers(self._key, delivery.id, timestamp, delivery.body)
        try:
            async with self._session.post(delivery.url, data=delivery.body, headers=signed, allow_redirects=False) as r:
                if 200 <= r.status < 300:
                    return
                answer = (await r.text(errors="replace"))[:_ERROR_BODY_CHARS]
                raise WebhookFailed(f"answered {r.status}" + (f": {answer}" if answer else ""))
        except TimeoutError as exc:  # before OSError, its base class
            raise WebhookFailed(f"no answer within {self._timeout.total:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddress):
                raise WebhookFailed(f"refused: {exc.os_error}", retryable=False) from exc
            raise WebhookFailed(f"cannot connect: {exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise WebhookFailed(f"{type(exc).__name__}: {exc}") from exc
