"""avtomatika's embedding API, as thin entry points into avtomat's runtime: run the orchestrator
from your own program, as the seed's "Quick Start: Usage as a Library" does.

    from engine import ActionFactory, StateMachineBlueprint
    from transport.app.embedding import Config, MemoryStorage, OrchestratorEngine

    engine = OrchestratorEngine(MemoryStorage(), Config())
    engine.register_blueprint(my_blueprint)
    engine.run()          # blocks until SIGINT or SIGTERM; or await engine.start() / engine.stop()

- ``Config()`` is the environment, read when it is made; assigning an upper-case attribute
  (``config.CLIENT_TOKEN = "..."``) overrides one variable. The values are checked, and turned
  into avtomat's ``Settings``, by ``Settings.from_env`` when the engine starts: a bad one raises
  ``ConfigError`` naming the variable. Upstream variables avtomat does not honour are accepted
  and ignored (README, "Upstream variables accepted and ignored").
- ``MemoryStorage()`` selects the embedded runtime (in-memory broker and store, one process);
  ``RedisStorage(url_or_client)`` the distributed one, which also needs ``RABBITMQ_URL``.
- The engine runs a node (the actors) and the HTTP gateway in this process, like ``avtomat up``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from urllib.parse import quote

from redis.asyncio import Redis, SSLConnection

from engine.blueprint import StateMachineBlueprint
from engine.errors import ConfigError
from engine.registry import BlueprintRegistry
from transport.app.loader import load_blueprints
from transport.app.logs import configure_logging
from transport.app.settings import Settings
from transport.app.upstream import warn_ignored
from transport.app.wiring import Runtime, runtime

log = logging.getLogger(__name__)

_TRANSPORT_URLS = ("RABBITMQ_URL", "REDIS_URL")


class Config:
    """Environment variables by their upstream names, overridable in code before the engine starts.

    - Reading ``config.NAME`` gives the variable's value as a string, or ``None`` when it is not
      set (then avtomat's default applies).
    - ``config.NAME = value`` sets it: strings as they are, ``True``/``False`` as ``true``/
      ``false``, numbers as written; ``None`` unsets it. Only upper-case names are variables.
    - ``environ`` (default ``os.environ``) is copied once: later changes to it are not seen.
    """

    __slots__ = ("_values",)
    _values: dict[str, str]

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        object.__setattr__(self, "_values", dict(os.environ if environ is None else environ))

    def __getattr__(self, name: str) -> str | None:
        if not name.isupper():
            raise AttributeError(name)
        return self._values.get(name)

    def __setattr__(self, name: str, value: object) -> None:
        if not name.isupper():
            raise AttributeError(f"Config has only upper-case variables, not {name!r}")
        if value is None:
            self._values.pop(name, None)
        elif isinstance(value, bool):
            self._values[name] = "true" if value else "false"
        elif isinstance(value, os.PathLike):
            self._values[name] = os.fsdecode(value)
        elif isinstance(value, str | int | float):
            self._values[name] = str(value)
        else:
            raise TypeError(f"{name} must be a string, number or bool, not {type(value).__name__}")

    def values(self) -> dict[str, str]:
        """A copy of the variables, as ``Settings.from_env`` reads them."""
        return dict(self._values)


@dataclass(frozen=True, slots=True)
class MemoryStorage:
    """The embedded runtime: in-memory broker and store, nothing persisted, one process.

    ``RABBITMQ_URL`` and ``REDIS_URL`` in the configuration are not used (a warning says so)."""


class RedisStorage:
    """The distributed runtime: the Redis store at this address, and RabbitMQ at ``RABBITMQ_URL``
    (required: ``ConfigError`` at start when it is missing). This URL replaces ``REDIS_URL``.

    Takes a URL (``redis://``, ``rediss://``, ``unix://``) or, as upstream does, a
    ``redis.asyncio.Redis`` client: avtomat then opens its own connections to the same server,
    database and credentials, and neither uses nor closes the client."""

    def __init__(self, redis: str | Redis) -> None:
        self.url = redis if isinstance(redis, str) else _url_of(redis)


def _url_of(client: Redis) -> str:
    """The URL of ``client``'s server, database and credentials."""
    pool = client.connection_pool
    kw = pool.connection_kwargs
    user, password = kw.get("username"), kw.get("password")
    auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@" if password else ""
    db = int(kw.get("db") or 0)
    if kw.get("path"):
        return f"unix://{auth}{kw['path']}?db={db}"
    scheme = "rediss" if issubclass(pool.connection_class, SSLConnection) else "redis"
    return f"{scheme}://{auth}{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{db}"


class OrchestratorEngine:
    """The orchestrator in the calling program: a node and the HTTP gateway over ``storage``.

    - ``register_blueprint`` validates at once (``BlueprintError``) and is refused once started
      (the gateway's routes are fixed at start).
    - ``start()`` reads ``config`` (``ConfigError`` naming a bad or missing variable), connects,
      starts the actors and serves the gateway at ``API_HOST``:``API_PORT``; it returns once
      requests are accepted. ``stop()`` stops the gateway, then the node, then closes the
      transports; it is idempotent, and the engine may be started again after it.
    - ``run()`` is ``start()``, a wait for SIGINT or SIGTERM, then ``stop()``, in a new event
      loop, with logging set up from ``LOG_LEVEL``/``LOG_FORMAT``; ``start()`` leaves logging and
      signals to the calling program.
    - With ``BLUEPRINTS_DIR`` set in ``config``, the blueprints of that folder are loaded at each
      start, beside the registered ones.
    """

    def __init__(self, storage: MemoryStorage | RedisStorage, config: Config | None = None) -> None:
        self.storage = storage
        self.config = Config() if config is None else config
        self.registry = BlueprintRegistry()
        self._stack: AsyncExitStack | None = None
        self._running: Runtime | None = None

    def register_blueprint(self, blueprint: StateMachineBlueprint) -> None:
        if self._stack is not None:
            raise RuntimeError("register blueprints before start(): the gateway's routes are fixed then")
        self.registry.register(blueprint)

    @property
    def settings(self) -> Settings | None:
        """The settings the running engine uses (tokens generated for the run included); ``None``
        when stopped."""
        return self._running.settings if self._running else None

    @property
    def url(self) -> str | None:
        """The gateway's base URL (with the real port when ``API_PORT`` is 0); ``None`` when stopped."""
        return self._running.url if self._running else None

    def build_settings(self) -> Settings:
        """``config`` as avtomat's settings, with the runtime ``storage`` selects."""
        env = self.config.values()
        if isinstance(self.storage, RedisStorage):
            env["REDIS_URL"] = self.storage.url
            if not env.get("RABBITMQ_URL", "").strip():
                raise ConfigError(
                    "RABBITMQ_URL",
                    "RedisStorage runs the distributed runtime, which also needs RabbitMQ: "
                    "set RABBITMQ_URL (environment or config.RABBITMQ_URL)",
                )
        else:
            ignored = [name for name in _TRANSPORT_URLS if env.pop(name, "").strip()]
            if ignored:
                log.warning("MemoryStorage: the embedded runtime does not use %s", " and ".join(ignored))
        settings = Settings.from_env(env)
        settings.require_shared_secrets()
        return settings

    async def start(self) -> None:
        await self._start(self.build_settings())

    async def _start(self, settings: Settings) -> None:
        if self._stack is not None:
            raise RuntimeError("the engine is already started")
        warn_ignored(self.config.values())
        registry = self.registry
        if (self.config.BLUEPRINTS_DIR or "").strip():
            registry = BlueprintRegistry()
            for bp in self.registry:
                registry.register(bp)
            load_blueprints(settings.blueprints_dir, registry)
        stack = AsyncExitStack()
        self._running = await stack.enter_async_context(runtime(settings, registry))
        self._stack = stack
        log.info("avtomat up on the %s runtime at %s", self._running.kind, self._running.url)

    async def stop(self) -> None:
        stack, self._stack, self._running = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def run(self) -> None:
        settings = self.build_settings()
        configure_logging(settings.log_level, settings.log_format, settings.timezone)
        asyncio.run(self._serve(settings))

    async def _serve(self, settings: Settings) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self._start(settings)
        try:
            await stop.wait()
        finally:
            await self.stop()
