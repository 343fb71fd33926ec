"""The test kit: what more than one test folder needs, in one place.

- ``clock.FakeClock``: time that moves only when a test (or a component's injected sleep) moves it.
- ``waiting.eventually``: wait on a condition, never for a time.
- ``proxy.TcpProxy`` / ``proxy.ProxyThread``: a TCP proxy a test breaks on cue.
- ``servers``: the local RabbitMQ/Redis URLs and ``server_unavailable`` (skip locally, fail in CI).
- Processes (start with env and log, wait ready, stop by PID) come from ``transport.app.processes``,
  shared with ``bench/`` and the shipped topology runner.
"""
