"""The ``avtomat`` command. ``avtomat up`` runs the embedded runtime with the blueprints of
``BLUEPRINTS_DIR`` and prints where to send jobs and which tokens to use."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from engine.errors import AvtomatError
from engine.registry import BlueprintRegistry
from engine.settings import Settings
from transport.embedded import embedded
from transport.loader import load_blueprints
from transport.logs import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avtomat", description="avtomat orchestrator")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run everything in one process (embedded runtime)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings.log_level, settings.log_format)
        registry = BlueprintRegistry()
        load_blueprints(settings.blueprints_dir, registry)
    except AvtomatError as exc:
        print(f"avtomat: {exc}", file=sys.stderr)
        return 2
    if args.command == "up":
        asyncio.run(_up(settings, registry))
    return 0


async def _up(settings: Settings, registry: BlueprintRegistry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with embedded(settings, registry) as runtime:
        _banner(runtime.url, settings, registry)
        await stop.wait()
    print("avtomat: stopped", flush=True)


def _banner(url: str, settings: Settings, registry: BlueprintRegistry) -> None:
    lines = [f"avtomat is up on the embedded runtime at {url}", ""]
    lines += ["Blueprints (POST to create a job):"]
    lines += [f"  {bp.name:<24} {url}{registry.path_of(bp)}" for bp in registry] or ["  (none)"]
    lines += [
        "",
        f"CLIENT_TOKEN={settings.client_token}",
        f"GLOBAL_WORKER_TOKEN={settings.global_worker_token}",
        f"ORCHESTRATOR_SECRET_KEY={settings.orchestrator_secret_key}",
    ]
    if settings.generated:
        lines += [
            "",
            f"Generated for this run (dev only): {', '.join(settings.generated)}.",
            "Set them in the environment to keep them across restarts.",
        ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
