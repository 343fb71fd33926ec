"""The README's Configuration section matches the code: every variable avtomat honours, with its
default; every upstream avtomatika variable it ignores, each of which gets one warning at start-up
(none for a variable avtomat honours)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from engine import defaults
from transport.app.cli import main
from transport.app.settings import Settings
from transport.app.upstream import IGNORED, ignored, warn_ignored

README = Path(__file__).resolve().parents[2] / "README.md"
TOKENS = {"CLIENT_TOKEN": "c", "GLOBAL_WORKER_TOKEN": "w", "ORCHESTRATOR_SECRET_KEY": "k", "WEBHOOK_SECRET": "s" * 16}


class Recording(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def honoured() -> set[str]:
    env = Recording()
    Settings.from_env(env)
    return env.asked


def test_each_set_variable_is_reported_once_in_list_order() -> None:
    env = {"WORK_STEALING_ENABLED": "true", "S3_MAX_CONCURRENCY": "8", "API_PORT": "9000"}

    assert [name for name, _ in ignored(env)] == ["S3_MAX_CONCURRENCY", "WORK_STEALING_ENABLED"]


def test_warnings_name_the_variable_and_what_avtomat_does_instead(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        names = warn_ignored({"AUDIT_SALT": "salt", "REDIS_HOST": "redis"})

    assert names == ["REDIS_HOST", "AUDIT_SALT"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert messages[0].startswith("REDIS_HOST is set but avtomat ignores it: ")
    assert "REDIS_URL" in messages[0]
    assert messages[1].startswith("AUDIT_SALT is set but avtomat ignores it: ")


def test_honoured_and_blank_variables_give_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {name: "1" for name in honoured()} | {"WORK_STEALING_ENABLED": "  "}

    with caplog.at_level(logging.WARNING):
        assert warn_ignored(env) == []

    assert caplog.records == []


def test_no_ignored_variable_is_honoured() -> None:
    names = [name for name, _ in IGNORED]

    assert len(names) == len(set(names))
    assert not set(names) & honoured()


def test_every_ignored_variable_leaves_the_settings_as_they_are() -> None:
    base = Settings.from_env(TOKENS)

    for name, _ in IGNORED:
        assert Settings.from_env({**TOKENS, name: "1"}) == base, name


def _configuration_section() -> str:
    text = README.read_text()
    return text[text.index("## Configuration") : text.index("\n## ", text.index("## Configuration") + 1)]


def test_the_readme_lists_every_ignored_variable() -> None:
    section = _configuration_section()
    ignored_part = section[section.index("accepted and ignored") :]

    assert [n for n, _ in IGNORED if f"`{n}`" not in ignored_part] == []


def test_the_readme_configuration_table_lists_every_honoured_variable() -> None:
    section = _configuration_section()
    table = section[: section.index("accepted and ignored")]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))

    assert honoured() - listed == set()


@pytest.mark.usefixtures("restore_logging")
def test_avtomat_up_warns_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('stop start-up after the warnings')\n")
    for name in ("ENVIRONMENT", "ENV", "RABBITMQ_URL", "REDIS_URL", "LOG_LEVEL", *(n for n, _ in IGNORED)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BLUEPRINTS_DIR", str(tmp_path))
    monkeypatch.setenv("WORK_STEALING_ENABLED", "true")
    monkeypatch.setenv("LOG_FORMAT", "json")

    assert main(["up"]) == 2  # the broken blueprint stops it once the warnings are out

    err = capsys.readouterr().err
    assert err.count("is set but avtomat ignores it") == 1
    assert "WORK_STEALING_ENABLED is set but avtomat ignores it: " in err
    assert "broken.py" in err


def test_the_readme_configuration_table_shows_the_defaults_of_the_code() -> None:
    table = _configuration_section().split("accepted and ignored")[0]
    checked = 0
    for row in re.findall(r"^\| (`[A-Z].*?) \| (.*?) \|", table, re.M):
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0])
        for name, shown in zip(names, row[1].split(", "), strict=False):
            value = getattr(defaults, name.removeprefix("AVTOMAT_"), None)
            literal = shown.strip("`")
            if value is None or not (shown.startswith("`") or literal[:1].isdigit()):
                continue  # a variable without a constant, or a default described in words
            assert literal == str(value) or float(literal) == value, name
            checked += 1
    assert checked >= 20
