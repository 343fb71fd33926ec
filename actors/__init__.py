"""The actors (job, aggregator, router, timeouts, webhooks), their runtime and the node that runs them."""

from actors.node import Node

__all__ = ["Node"]
