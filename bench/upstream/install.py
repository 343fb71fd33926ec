"""The upstream orchestrator's own virtualenv, created on first use.

``avtomatika==1.0b30`` pins orjson ~3.12 and ``avtomatika-worker==1.0b20`` pins ~3.11.9, so they
cannot share one venv: the SDK workers stay in the project venv, only the orchestrator runs from
this one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VERSION = "1.0b30"
REQUIREMENT = f"avtomatika[redis]=={VERSION}"  # the redis extra pins redis-py ~8.1, as upstream tests it


def venv_dir(root: Path) -> Path:
    return root / ".bench" / "venvs" / f"avtomatika-{VERSION}"


def upstream_python(root: Path) -> Path:
    """The python of the upstream venv under ``root/.bench``, created and installed if missing.

    Idempotent: the ``.installed`` marker (holding ``pip freeze``) is written only after pip
    succeeded, so an interrupted install is redone next time."""
    venv = venv_dir(root)
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists():
        return python
    log = venv.parent / f"{venv.name}.install.log"
    print(f"installing {REQUIREMENT} into {venv} (first use; log: {log})", file=sys.stderr, flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        for argv in (
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            [str(python), "-m", "pip", "install", REQUIREMENT],
        ):
            if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
                raise RuntimeError(f"{' '.join(argv)} failed:\n{log.read_text(errors='replace')[-4000:]}")
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True)
    marker.write_text(freeze.stdout)
    return python


def installed_versions(root: Path) -> dict[str, str]:
    """``{distribution: version}`` of the upstream venv, from its marker; empty if not installed."""
    marker = venv_dir(root) / ".installed"
    if not marker.exists():
        return {}
    pairs = (line.partition("==") for line in marker.read_text().splitlines())
    return {name: version for name, sep, version in pairs if sep}
