"""The HTTP gateway: the client API and RXON's worker API over aiohttp.

The gateway keeps no state of its own beyond the workers' open WebSockets (``worker_ws``). It
validates requests, reads and writes the store, and publishes messages to job mailboxes; job
actors decide what the messages mean.

- ``GatewayContext`` carries the settings, store, broker, blueprint registry and clock.
- ``build_app(ctx)`` returns the aiohttp application.
"""

from transport.gateway.app import build_app
from transport.gateway.context import GatewayContext

__all__ = ["GatewayContext", "build_app"]
