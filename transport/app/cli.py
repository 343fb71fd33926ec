"""The ``avtomat`` command.

- ``avtomat up``: everything in one process — the embedded runtime, or, when ``RABBITMQ_URL``
  and ``REDIS_URL`` are set, a node and a gateway on the distributed runtime.
- ``avtomat node``: the actors only, against RabbitMQ and Redis.
- ``avtomat gateway``: the HTTP gateway only, against RabbitMQ and Redis.
- ``avtomat graph BLUEPRINT [-o FILE]``: the blueprint's graph, as DOT on stdout or written to
  ``FILE`` in the format its suffix names (``.dot``/``.gv``, ``.svg``, ``.png``; the images need
  Graphviz's ``dot`` executable).

Settings come from the environment and are validated first, then the blueprints and
``schedules.toml`` are loaded: a bad value exits with status 2 and a message naming the variable
(for ``schedules.toml``, also the file, the table and the key). Then each upstream avtomatika
variable that is set but ignored gets one warning in the log (``transport/app/upstream.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

try:
    import uvloop
except ImportError:  # not built for this platform (Windows): plain asyncio
    uvloop = None  # type: ignore[assignment]

import graphviz

from engine.errors import AvtomatError, BlueprintError, ConfigError, Unavailable
from engine.graph import build_graph, to_dot
from engine.registry import BlueprintRegistry
from engine.schedules import Schedule
from transport.app.loader import load_blueprints
from transport.app.logs import configure_logging
from transport.app.schedules import load_schedules
from transport.app.settings import Settings
from transport.app.upstream import warn_ignored
from transport.app.wiring import Runtime, check_tenancy_files, runtime
from transport.gateway.blueprint_api import render

ROLES = {"up": (True, True), "node": (True, False), "gateway": (False, True)}
GRAPH_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avtomat", description="avtomat orchestrator")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run everything in one process (embedded unless RABBITMQ_URL/REDIS_URL are set)")
    commands.add_parser("node", help="run the actors against RabbitMQ and Redis")
    commands.add_parser("gateway", help="run the HTTP gateway against RabbitMQ and Redis")
    graph = commands.add_parser("graph", help="draw a blueprint's states and transitions (Graphviz DOT, SVG or PNG)")
    graph.add_argument("blueprint", help="the blueprint's name")
    graph.add_argument("-o", "--output", help="write to this file (.dot, .gv, .svg, .png) instead of DOT on stdout")
    args = parser.parse_args(argv)
    if args.command == "graph":
        return _graph(args.blueprint, args.output)
    try:
        settings = Settings.from_env(os.environ)
        if args.command != "up" and not settings.distributed:
            raise ConfigError("RABBITMQ_URL", f"'avtomat {args.command}' needs RABBITMQ_URL and REDIS_URL")
        if ROLES[args.command][1]:
            settings.require_shared_secrets()
        configure_logging(settings.log_level, settings.log_format, settings.timezone)
        warn_ignored(os.environ)
        registry = BlueprintRegistry()
        load_blueprints(settings.blueprints_dir, registry)
        schedules = load_schedules(settings, registry)
        if ROLES[args.command][1]:  # a gateway: clients.toml and workers.toml are checked first too
            check_tenancy_files(settings)
    except AvtomatError as exc:
        print(f"avtomat: {exc}", file=sys.stderr)
        return 2
    node, gateway = ROLES[args.command]
    try:
        _run(_serve(settings, registry, schedules, node=node, gateway=gateway))
    except ConfigError as exc:  # found while starting: a namespace's JOB_SHARDS, the archive database
        print(f"avtomat: {exc}", file=sys.stderr)
        return 2
    except (Unavailable, OSError) as exc:
        print(f"avtomat: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _graph(name: str, output: str | None) -> int:
    """``avtomat graph``: blueprints load as for ``avtomat up`` (``BLUEPRINTS_DIR``), validation
    included. Exit status 2 for a bad name, suffix or setting; 1 when the file cannot be drawn
    (no Graphviz ``dot``) or written."""
    fmt = GRAPH_SUFFIXES.get(Path(output).suffix.lower()) if output else "dot"
    if fmt is None:
        print(f"avtomat: the output file must end in one of {', '.join(GRAPH_SUFFIXES)}", file=sys.stderr)
        return 2
    try:
        registry = BlueprintRegistry()
        load_blueprints(Settings.from_env(os.environ).blueprints_dir, registry)
        bp = registry.get(name)
        if bp is None:
            known = ", ".join(sorted(b.name for b in registry)) or "none"
            raise BlueprintError(name, f"no such blueprint; known: {known}")
    except AvtomatError as exc:
        print(f"avtomat: {exc}", file=sys.stderr)
        return 2
    dot = to_dot(build_graph(bp))
    if output is None:
        sys.stdout.write(dot)
        return 0
    try:
        Path(output).write_bytes(render(dot, fmt))
    except graphviz.ExecutableNotFound:
        print(
            f"avtomat: writing {fmt.upper()} needs Graphviz's 'dot' executable, which is not installed "
            "(e.g. apt-get install graphviz); write a .dot file instead",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"avtomat: cannot write {output}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (Linux and macOS): its I/O costs a third of asyncio's
    per round trip to Redis or RabbitMQ (docs/performance.md)."""
    if uvloop is None:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(
    settings: Settings, registry: BlueprintRegistry, schedules: Sequence[Schedule], *, node: bool, gateway: bool
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with runtime(settings, registry, node=node, gateway=gateway, schedules=schedules) as running:
        _banner(running, registry)
        await stop.wait()
    print("avtomat: stopped", flush=True)


def _banner(running: Runtime, registry: BlueprintRegistry) -> None:
    settings = running.settings
    roles = " and ".join(r for r, on in (("node", running.node), ("gateway", running.url)) if on)
    lines = [f"avtomat {roles} up on the {running.kind} runtime" + (f" at {running.url}" if running.url else "")]
    if running.url and settings.enable_client_api:
        lines += ["", "Blueprints (POST to create a job):"]
        lines += [f"  {bp.name:<24} {running.url}{registry.path_of(bp)}" for bp in registry] or ["  (none)"]
    elif running.url:
        lines += ["", "The client API is disabled (ENABLE_CLIENT_API=false)."]
    if running.metrics_url:
        lines += ["", f"Metrics: {running.metrics_url}/_public/metrics"]
    if running.holon is not None and settings.parent is not None:
        names = ", ".join(bp.name for bp in registry) or "none"
        lines += ["", f"Worker {settings.parent.worker_id} of the parent {settings.parent.url}; skills: {names}"]
    if running.url:
        tokens = {
            "CLIENT_TOKEN": settings.client_token,
            "GLOBAL_WORKER_TOKEN": settings.global_worker_token,
            "ORCHESTRATOR_SECRET_KEY": settings.orchestrator_secret_key,
        }
        lines += ["", *(f"{name}={value}" for name, value in tokens.items() if value)]
        files = (("Clients", settings.clients_config_path), ("Workers", settings.workers_config_path))
        lines += [f"{what}: {path}" for what, path in files if path]
    if running.node and "WEBHOOK_SECRET" in settings.generated:  # a secret set by hand is not shown
        lines += ["", f"WEBHOOK_SECRET={settings.webhook_secret}  (verify webhook signatures with it)"]
    if settings.generated:
        lines += [
            "",
            f"Generated for this run (dev only): {', '.join(settings.generated)}.",
            "Set them in the environment to keep them across restarts.",
        ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
