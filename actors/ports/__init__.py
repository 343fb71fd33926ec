"""The ports: what the actors need from the world, as protocols the adapters in ``transport``
implement (the broker, the store, leader locks and membership, notice subscriptions).

They belong to the core, beside the actors that use them, so dependencies point one way:
``transport`` imports them, never the reverse (docs/adr/0012-layers.md).
"""
