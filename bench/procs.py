"""Finding a server's process by name. Starting, stopping and reading processes is
``transport.app.processes``, the launcher the bench shares with the tests and the topology runner."""

from __future__ import annotations

from pathlib import Path

from transport.app.processes import cpu_seconds


def find_pid(command_name: str) -> int | None:
    """The first process whose ``comm`` is ``command_name`` that we may read, or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == command_name:
                cpu_seconds(int(entry.name))
                return int(entry.name)
        except OSError:
            continue
    return None
