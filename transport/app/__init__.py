"""The composition root, the outermost layer: settings loading, blueprint loading, log setup,
the wiring of transports, node and gateway, the ``avtomat`` command and the local topology.

Nothing else imports from here except the gateway's settings type; everything here may import
anything below it (docs/adr/0012-layers.md).
"""
