"""The composition root, the outermost layer: settings loading, blueprint loading, log setup,
the wiring of transports, node and gateway, the ``avtomat`` command, the local topology, and the
seed's embedding API (``transport.app.embedding``: ``OrchestratorEngine`` and friends; import it
from there, this package imports nothing eagerly).

Nothing else imports from here except the gateway's settings type; everything here may import
anything below it (docs/adr/0012-layers.md).
"""
