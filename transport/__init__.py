"""Adapters to the outside: brokers, stores, the HTTP gateway, webhooks and the CLI."""
