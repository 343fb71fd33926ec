"""schedules.toml (transport/app/schedules.py): the seed's format and avtomat's additions are
read; every malformed table stops start-up naming the file, the table and the key."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.errors import ConfigError
from engine.registry import BlueprintRegistry
from engine.schedules import Calendar, Every, Schedule
from tests.blueprints import tiny_blueprint
from transport.app.cli import main
from transport.app.schedules import load_schedules
from transport.app.settings import Settings
from transport.gateway.auth import client_id_of

TOKENS = {"CLIENT_TOKEN": "client", "GLOBAL_WORKER_TOKEN": "worker", "ORCHESTRATOR_SECRET_KEY": "secret"}
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "schedules.example.toml"


def registry() -> BlueprintRegistry:
    reg = BlueprintRegistry()
    reg.register(tiny_blueprint())
    return reg


def load(tmp_path: Path, text: str, **env: str) -> tuple[Schedule, ...]:
    path = tmp_path / "schedules.toml"
    path.write_text(text)
    settings = Settings.from_env({**TOKENS, "SCHEDULES_CONFIG_PATH": str(path), **env})
    return load_schedules(settings, registry())


def test_no_path_means_no_schedules() -> None:
    assert load_schedules(Settings.from_env(TOKENS), registry()) == ()


def test_every_kind_of_rule_is_read_in_file_order(tmp_path: Path) -> None:
    text = """
[nightly_backup]
blueprint = "tiny"
daily_at = "02:00"
dispatch_timeout = 60

[poll]
blueprint = "tiny"
interval_seconds = 30
input_data = { source = "feed", tags = ["a", "b"], limits = { n = 3 } }

[weekly_report]
blueprint = "tiny"
weekly_days = ["fri", "mon"]
time = "9:05"
timezone = "America/New_York"
catch_up = "once"

[billing]
blueprint = "tiny"
monthly_dates = [15, 1]
time = "06:00"
result_timeout = 120.5

[five]
blueprint = "tiny"
cron = "*/5  * * * *"
"""
    nightly, poll, weekly, billing, five = load(tmp_path, text, TZ="Europe/Berlin")

    assert [s.name for s in (nightly, poll, weekly, billing, five)] == [
        "nightly_backup", "poll", "weekly_report", "billing", "five",
    ]  # fmt: skip
    assert nightly.rule == Calendar("0 2 * * *", ZoneInfo("Europe/Berlin"), "daily_at 02:00")
    assert (nightly.timezone, nightly.dispatch_timeout, nightly.catch_up) == ("Europe/Berlin", 60.0, "skip")
    assert poll.rule == Every(30)
    assert poll.input_data == {"source": "feed", "tags": ["a", "b"], "limits": {"n": 3}}
    assert isinstance(weekly.rule, Calendar)
    assert (weekly.rule.cron, weekly.rule.describe()) == ("5 9 * * 1,5", "weekly_days mon fri at 09:05")
    assert (weekly.timezone, weekly.catch_up) == ("America/New_York", "once")
    assert isinstance(billing.rule, Calendar)
    assert (billing.rule.cron, billing.result_timeout) == ("0 6 1,15 * *", 120.5)
    assert isinstance(five.rule, Calendar) and five.rule.cron == "*/5 * * * *"
    assert {s.client_id for s in (nightly, poll)} == {client_id_of("client")}
    assert nightly.max_transitions == Settings().max_transitions_per_job


def test_the_default_time_zone_is_utc(tmp_path: Path) -> None:
    [schedule] = load(tmp_path, '[a]\nblueprint = "tiny"\ndaily_at = "00:00"\n')

    assert schedule.timezone == "UTC"


def test_the_example_file_of_the_docs_is_valid() -> None:
    reg = BlueprintRegistry()
    for name in ("backup_flow", "poll_flow", "report_flow", "billing_flow", "tiny"):
        bp = tiny_blueprint()
        bp.name = name
        reg.register(bp)
    settings = Settings.from_env({**TOKENS, "SCHEDULES_CONFIG_PATH": str(EXAMPLE)})

    assert len(load_schedules(settings, reg)) >= 5


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ('daily_at = "02:00"', "blueprint", "must name a loaded blueprint (loaded: tiny), got None"),
        ('blueprint = "nope"\ndaily_at = "02:00"', "blueprint", "must name a loaded blueprint"),
        ('blueprint = "tiny"', "interval_seconds/daily_at/weekly_days/monthly_dates/cron", "got none"),
        (
            'blueprint = "tiny"\ndaily_at = "02:00"\ninterval_seconds = 5',
            "interval_seconds/daily_at/weekly_days/monthly_dates/cron",
            "got interval_seconds and daily_at",
        ),
        ('blueprint = "tiny"\ninterval_seconds = 0', "interval_seconds", "at least 1, got 0"),
        ('blueprint = "tiny"\ninterval_seconds = 1.5', "interval_seconds", "whole number"),
        ('blueprint = "tiny"\ninterval_seconds = true', "interval_seconds", "whole number"),
        ('blueprint = "tiny"\ndaily_at = "24:00"', "daily_at", 'must be "HH:MM"'),
        ('blueprint = "tiny"\ndaily_at = 2', "daily_at", 'must be "HH:MM"'),
        ('blueprint = "tiny"\nweekly_days = ["mon"]', "time", 'must be "HH:MM"'),
        ('blueprint = "tiny"\nweekly_days = ["funday"]\ntime = "01:00"', "weekly_days", "'funday' is not a day"),
        ('blueprint = "tiny"\nweekly_days = []\ntime = "01:00"', "weekly_days", "non-empty list"),
        ('blueprint = "tiny"\nmonthly_dates = [0]\ntime = "01:00"', "monthly_dates", "(1-31)"),
        ('blueprint = "tiny"\nmonthly_dates = [32]\ntime = "01:00"', "monthly_dates", "(1-31)"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ntime = "01:00"', "time", "goes with weekly_days or monthly_dates"),
        ('blueprint = "tiny"\ncron = "* * * *"', "cron", "must be 5 fields"),
        ('blueprint = "tiny"\ncron = "61 * * * *"', "cron", "in 'cron 61 * * * *'"),
        ('blueprint = "tiny"\ncron = "0 0 30 2 *"', "cron", "Bad day-of-month"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ntimezone = "Mars/Olympus"', "timezone", "IANA time zone"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ncatch_up = "all"', "catch_up", 'must be "skip" or "once"'),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ndispatch_timeout = -1', "dispatch_timeout", "positive number"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ninput_data = 3', "input_data", "must be a table"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ninput_data = { at = 1979-05-27 }', "input_data", "1979-05-27"),
        ('blueprint = "tiny"\ndaily_at = "01:00"\ndaily = "x"', "daily", "unknown key"),
    ],
)
def test_a_malformed_table_names_the_file_the_table_and_the_key(
    tmp_path: Path, table: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[good]\nblueprint = 'tiny'\ninterval_seconds = 60\n\n[broken]\n{table}\n")

    path = tmp_path / "schedules.toml"
    assert caught.value.variable == "SCHEDULES_CONFIG_PATH"
    assert str(caught.value).startswith(f"SCHEDULES_CONFIG_PATH: {path}: [broken] {key}: ")
    assert problem in str(caught.value)


def test_a_table_that_is_not_a_table_and_bad_toml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[loose\] must be a table"):
        load(tmp_path, 'loose = "value"\n')
    with pytest.raises(ConfigError, match=r"schedules.toml: is not valid TOML: .*line 2"):
        load(tmp_path, '[a]\nblueprint = "tiny\n')


def test_upstream_security_and_metadata_are_kept_for_the_jobs(tmp_path: Path) -> None:
    text = '[a]\nblueprint = "tiny"\ndaily_at = "01:00"\nmetadata = { team = "x" }\nsecurity = { signer_id = "cron" }\n'
    [schedule] = load(tmp_path, text)

    assert (schedule.metadata, schedule.security) == ({"team": "x"}, {"signer_id": "cron"})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('metadata = "x"', r"\[a\] metadata: must be a table"),
        ("security = { identity_chain = 1 }", r"\[a\] security: must be a SecurityContext"),
    ],
)
def test_bad_security_or_metadata_stops_start_up(tmp_path: Path, line: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load(tmp_path, f'[a]\nblueprint = "tiny"\ndaily_at = "01:00"\n{line}\n')


def test_the_distributed_runtime_needs_a_client_token_that_owns_the_scheduled_jobs(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text('[a]\nblueprint = "tiny"\ninterval_seconds = 5\n')
    env = {
        "GLOBAL_WORKER_TOKEN": "w",
        "ORCHESTRATOR_SECRET_KEY": "k",
        "SCHEDULES_CONFIG_PATH": str(path),
        "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }

    with pytest.raises(ConfigError, match=r"^CLIENT_TOKEN: must be set when SCHEDULES_CONFIG_PATH names schedules"):
        load_schedules(Settings.from_env(env), registry())
    assert load_schedules(Settings.from_env({**env, "CLIENT_TOKEN": "c"}), registry())


def test_with_clients_toml_and_no_client_token_no_one_would_own_the_scheduled_jobs(tmp_path: Path) -> None:
    path, clients = tmp_path / "schedules.toml", tmp_path / "clients.toml"
    path.write_text('[a]\nblueprint = "tiny"\ninterval_seconds = 5\n')
    clients.write_text('[team_a]\ntoken = "a"\n')
    env = {"SCHEDULES_CONFIG_PATH": str(path), "CLIENTS_CONFIG_PATH": str(clients)}

    with pytest.raises(ConfigError, match=r"^CLIENT_TOKEN: must be set when SCHEDULES_CONFIG_PATH names schedules"):
        load_schedules(Settings.from_env(env), registry())


def test_settings_check_the_path_and_the_time_zone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SCHEDULES_CONFIG_PATH: is not a file"):
        Settings.from_env({"SCHEDULES_CONFIG_PATH": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^TZ: must be an IANA time zone name"):
        Settings.from_env({"TZ": "CET-1CEST"})
    assert Settings.from_env({"TZ": ":Australia/Sydney"}).timezone == "Australia/Sydney"


@pytest.mark.usefixtures("restore_logging")
def test_avtomat_up_stops_on_a_malformed_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text('[nightly]\nblueprint = "demo"\ndaily_at = "2am"\n')
    for name in ("RABBITMQ_URL", "REDIS_URL", "BLUEPRINTS_DIR", "TZ", "ENVIRONMENT", "ENV", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCHEDULES_CONFIG_PATH", str(path))

    assert main(["up"]) == 2

    err = capsys.readouterr().err
    assert f'avtomat: SCHEDULES_CONFIG_PATH: {path}: [nightly] daily_at: must be "HH:MM"' in err
