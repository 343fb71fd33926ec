"""The newcomers' map (docs/architecture.md) names only modules that exist, and the layout it
draws is the one the import-linter contracts enforce."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"
PACKAGES = ("engine", "actors", "transport", "blueprints", "tests", "bench")


def test_every_path_the_map_names_exists() -> None:
    text = MAP.read_text()
    named = set(re.findall(r"`((?:" + "|".join(PACKAGES) + r")/[\w/.]*)`", text))
    assert len(named) > 20, "the map should name the modules of the echo path"
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_module_of_the_core_is_on_the_map() -> None:
    """A new module of actors/ or its ports shows up in the map's tree, so the map cannot rot
    silently as the core grows."""
    text = MAP.read_text()
    modules = [p for p in (ROOT / "actors").rglob("*.py") if p.name != "__init__.py"]
    absent = sorted(str(p.relative_to(ROOT)) for p in modules if p.name not in text)
    assert not absent, f"docs/architecture.md does not mention {absent}"
