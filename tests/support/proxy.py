"""A TCP proxy a test puts between avtomat and a server, to break the network on cue (the one
proxy of the test kit: the RabbitMQ and Redis adapter tests and the end-to-end outage tests).

``TcpProxy`` is plain asyncio (``async with TcpProxy(host, port) as proxy``): every method runs on
the loop that started it. ``ProxyThread``
runs one on its own event loop in a background thread, for tests whose own code blocks (the
topology helpers, subprocesses) and for proxying to other processes, which must keep being
served while the test waits.

Failure model: ``cut()`` aborts every proxied connection, both the client's socket and the
upstream one (RST, no FIN: what a dead link or a crashed peer looks like). While ``refusing``,
a new client connection is accepted and aborted at once, before any upstream connection is
made, so a client sees its connect fail; the listening port stays ours, so nothing else can take
it meanwhile. ``restore()`` lets connections through again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ProxyStats:
    """What the proxy saw; read it after the fact, for the test's figures."""

    accepted: int = 0  # client connections relayed to the upstream
    refused: int = 0  # client connections aborted while refusing (or when the upstream was down)
    cut: int = 0  # live connections aborted by cut()


class TcpProxy:
    """Relays ``127.0.0.1:<port>`` to ``upstream``; see the module docstring for cut and refuse."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.refusing = False
        self.stats = ProxyStats()

    async def start(self) -> int:
        """Listen on an ephemeral port of 127.0.0.1 and return it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self.port

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.stats.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            self.stats.refused += 1
            writer.transport.abort()
            return
        if self.refusing:  # refuse() was called while we connected upstream
            self.stats.refused += 1
            up_writer.transport.abort()
            writer.transport.abort()
            return
        self.stats.accepted += 1
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._links.discard(link)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy until either side goes; then abort the other, so a half-dead link cannot linger."""
        with contextlib.suppress(OSError):  # ConnectionResetError and kin: the link was cut
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> int:
        """Abort every live proxied connection, both ends; returns how many there were."""
        links, self._links = self._links, set()
        for client, upstream in links:
            client.transport.abort()
            upstream.transport.abort()
        self.stats.cut += len(links)
        return len(links)

    def refuse(self) -> None:
        """Abort new connections until ``restore()``; live ones are left alone (see ``cut``)."""
        self.refusing = True

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        """Stop listening and cut everything. Idempotent."""
        server, self._server = self._server, None
        self.cut()
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class ProxyThread:
    """A ``TcpProxy`` served by an event loop of its own, on a daemon thread.

    Use it as a context manager; the calls below block until the proxy's loop has done them, so
    when ``outage()`` returns every connection is cut and new ones are refused.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, call_timeout: float = 10.0) -> None:
        self._proxy = TcpProxy(upstream_host, upstream_port)
        self._call_timeout = call_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._closed = False
        self.port = 0

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        self.port = self._call(self._proxy.start())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def stats(self) -> ProxyStats:
        return self._proxy.stats

    def outage(self) -> int:
        """Refuse new connections, then cut the live ones; returns how many were cut."""

        async def go() -> int:
            self._proxy.refuse()
            return self._proxy.cut()

        return self._call(go())

    def restore(self) -> None:
        async def go() -> None:
            self._proxy.restore()

        self._call(go())

    def close(self) -> None:
        """Close the proxy, stop the loop and join the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._thread.is_alive():
                self._call(self._proxy.close())
                self._call(self._drain())
        finally:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(self._call_timeout)
            self._loop.close()

    @staticmethod
    async def _drain() -> None:
        """Let the relay tasks of the connections just cut see their sockets go and finish."""
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._call_timeout)
