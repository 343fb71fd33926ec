"""``HISTORY_DATABASE_URI`` and ``HISTORY_RETENTION_DAYS``: validated at start-up, each error naming
its variable; a database that cannot be used stops the start."""

from __future__ import annotations

import socket

import pytest

from engine import defaults
from engine.errors import ConfigError
from engine.registry import BlueprintRegistry
from tests.support.proxy import TcpProxy
from transport.app import cli
from transport.app.settings import Settings
from transport.app.wiring import runtime


def test_the_archive_is_off_by_default_with_a_90_day_retention() -> None:
    settings = Settings.from_env({})

    assert settings.history_database_uri == ""
    assert settings.history_retention_days == defaults.HISTORY_RETENTION_DAYS == 90


def test_a_postgresql_uri_and_a_retention_are_read() -> None:
    env = {"HISTORY_DATABASE_URI": "postgres://u:p@db/history", "HISTORY_RETENTION_DAYS": "0"}

    settings = Settings.from_env(env)

    assert (settings.history_database_uri, settings.history_retention_days) == ("postgres://u:p@db/history", 0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HISTORY_DATABASE_URI", "sqlite:///history.db"),
        ("HISTORY_DATABASE_URI", "db.example.com/history"),
        ("HISTORY_RETENTION_DAYS", "-1"),
        ("HISTORY_RETENTION_DAYS", "a week"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})

    assert caught.value.variable == variable


async def test_a_database_that_cannot_be_reached_stops_the_start() -> None:
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        proxy.refuse()
        settings = Settings.from_env({"HISTORY_DATABASE_URI": f"postgresql://postgres@127.0.0.1:{proxy.port}/test"})
        with pytest.raises(ConfigError) as caught:
            async with runtime(settings, BlueprintRegistry(), schedules=()):
                pass

    assert caught.value.variable == "HISTORY_DATABASE_URI"


def test_avtomat_up_with_an_unusable_archive_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("RABBITMQ_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_PORT", "0")
    monkeypatch.setenv("HISTORY_DATABASE_URI", f"postgresql://postgres@127.0.0.1:{_closed_port()}/test")

    assert cli.main(["up"]) == 2
    assert capsys.readouterr().err.startswith("avtomat: HISTORY_DATABASE_URI: the archive database cannot be used")


def _closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
