"""Pure Holon mode's settings: ``ENABLE_CLIENT_API`` and the ``PARENT_*`` variables, validated at
start-up (a bad value is a ``ConfigError`` naming the variable)."""

from __future__ import annotations

import pytest

from engine import ConfigError
from transport.app.cli import main
from transport.app.settings import ParentSettings, Settings

URL = "http://parent.example:8080"
HOLON = {"PARENT_ORCHESTRATOR_URL": URL, "PARENT_WORKER_TOKEN": "parent-worker-token"}


def test_by_default_the_client_api_is_on_and_there_is_no_parent() -> None:
    s = Settings.from_env({})

    assert s.enable_client_api is True
    assert s.parent is None


@pytest.mark.parametrize(
    ("raw", "on"), [("false", False), ("False", False), ("0", False), ("no", False), ("true", True)]
)
def test_enable_client_api_reads_a_boolean(raw: str, on: bool) -> None:
    assert Settings.from_env({"ENABLE_CLIENT_API": raw}).enable_client_api is on


def test_enable_client_api_refuses_anything_else() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ENABLE_CLIENT_API": "sometimes"})

    assert caught.value.variable == "ENABLE_CLIENT_API"


def test_a_parent_url_with_its_token_makes_a_holon() -> None:
    s = Settings.from_env({**HOLON, "PARENT_ORCHESTRATOR_URL": URL + "/"})

    assert s.parent == ParentSettings(url=URL, worker_token="parent-worker-token", worker_id="avtomat")


def test_every_parent_setting_is_read() -> None:
    env = {
        **HOLON,
        "PARENT_ORCHESTRATOR_SECRET_KEY": "parent-secret",
        "PARENT_WORKER_ID": "child-1",
        "PARENT_MAX_CONCURRENT_TASKS": "4",
        "PARENT_HEARTBEAT_INTERVAL": "2.5",
    }

    parent = Settings.from_env(env).parent

    assert parent == ParentSettings(
        url=URL,
        worker_token="parent-worker-token",
        secret_key="parent-secret",
        worker_id="child-1",
        max_concurrent_tasks=4,
        heartbeat_interval=2.5,
    )


def test_the_worker_id_defaults_to_the_namespace_every_process_of_a_deployment_shares() -> None:
    parent = Settings.from_env({**HOLON, "AVTOMAT_NAMESPACE": "media-holon"}).parent

    assert parent is not None and parent.worker_id == "media-holon"


def test_a_parent_url_needs_the_worker_token() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"PARENT_ORCHESTRATOR_URL": URL})

    assert caught.value.variable == "PARENT_WORKER_TOKEN"


@pytest.mark.parametrize("url", ["parent.example:8080", "ftp://parent.example", "http://", "http://host:99999", "x"])
def test_the_parent_url_must_be_http_or_https_with_a_host(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**HOLON, "PARENT_ORCHESTRATOR_URL": url})

    assert caught.value.variable == "PARENT_ORCHESTRATOR_URL"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PARENT_WORKER_ID", "has spaces"),
        ("PARENT_WORKER_ID", "x" * 129),
        ("PARENT_MAX_CONCURRENT_TASKS", "0"),
        ("PARENT_HEARTBEAT_INTERVAL", "-1"),
    ],
)
def test_bad_parent_settings_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**HOLON, variable: value})

    assert caught.value.variable == variable


@pytest.mark.parametrize("variable", ["PARENT_WORKER_TOKEN", "PARENT_ORCHESTRATOR_SECRET_KEY", "PARENT_WORKER_ID"])
def test_a_parent_setting_without_the_url_is_an_error(variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: "something"})

    assert caught.value.variable == variable
    assert "PARENT_ORCHESTRATOR_URL" in str(caught.value)


def test_cli_with_a_bad_parent_url_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ENVIRONMENT", "ENV", "BLUEPRINTS_DIR", "API_PORT", "RABBITMQ_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARENT_ORCHESTRATOR_URL", "parent:8080")
    monkeypatch.setenv("PARENT_WORKER_TOKEN", "t")

    assert main(["up"]) == 2

    assert capsys.readouterr().err.startswith("avtomat: PARENT_ORCHESTRATOR_URL: must be an http:// or https:// URL")
