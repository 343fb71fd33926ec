"""``clients.toml`` and ``workers.toml``: what they give, and that every mistake stops start-up
naming the file, the table and the key. Also the pure rules they feed (``engine.limits``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.limits import Quota, Rate, gcra, quota_windows
from transport.app.cli import main
from transport.app.clients import client_id_of, load_clients
from transport.app.settings import Settings
from transport.app.workers import WorkerGrant, decode_table, encode_table, load_workers


def write(tmp_path: Path, text: str, name: str = "clients.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- clients.toml --------------------------------------------------------------------------------


def test_clients_are_found_by_any_of_their_tokens_clear_or_hashed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        [team_a]
        token = ["a-1", "a-2"]
        token_sha256 = "{sha("a-3")}"
        plan = "premium"
        monthly_attempts = 1000
        jobs_per_day = 50
        max_running_jobs = 5
        rate_limit = 300
        rate_limit_period = 30
        [team_a.params]
        max_size = 10

        [ops]
        token_sha256 = ["{sha("ops-1").upper()}"]
        admin = true
        """,
    )
    table = load_clients(Settings(clients_config_path=path))

    a = table.find("a-1")
    assert a is not None and table.find("a-2") == a == table.find("a-3")
    assert (a.id, a.plan, dict(a.params), a.admin) == ("team_a", "premium", {"max_size": 10}, False)
    assert a.quota == Quota(jobs_per_day=50, monthly_attempts=1000, max_running_jobs=5)
    assert (a.rate_limit, a.rate_limit_period) == (300, 30.0)
    ops = table.find("ops-1")
    assert ops is not None and ops.admin and ops.plan == "default" and not ops.quota.limited
    assert table.find("nope") is None and table.find(sha("a-3")) is None


def test_client_token_is_one_more_client_and_the_admin_only_without_a_file(tmp_path: Path) -> None:
    alone = load_clients(Settings(client_token="env-token")).find("env-token")
    assert alone is not None and alone.id == client_id_of("env-token") and alone.admin

    path = write(tmp_path, '[team_a]\ntoken = "a-1"\n')
    beside = load_clients(Settings(client_token="env-token", clients_config_path=path)).find("env-token")
    assert beside is not None and not beside.admin


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[team_a]\nplan = 'x'\n", "[team_a] token: missing: give token or token_sha256"),
        ("[team_a]\ntoken = ''\n", "[team_a] token: must be a non-empty string"),
        ("[team_a]\ntoken_sha256 = 'abc'\n", "[team_a] token_sha256: must be a SHA-256 digest"),
        ("[team_a]\ntoken = 'a'\nmonthly_attempts = -1\n", "[team_a] monthly_attempts: must be a whole number"),
        ("[team_a]\ntoken = 'a'\njobs_per_day = 1.5\n", "[team_a] jobs_per_day: must be a whole number"),
        ("[team_a]\ntoken = 'a'\nrate_limit = 0\n", "[team_a] rate_limit: must be a whole number of at least 1"),
        ("[team_a]\ntoken = 'a'\nrate_limit_period = 0\n", "[team_a] rate_limit_period: must be a positive"),
        ("[team_a]\ntoken = 'a'\nadmin = 'yes'\n", "[team_a] admin: must be true or false"),
        ("[team_a]\ntoken = 'a'\nparams = 3\n", "[team_a] params: must be a table"),
        ("[team_a]\ntoken = 'a'\nquota = 3\n", "[team_a] quota: unknown key"),
        ("[team_a]\ntoken = 'a'\n[team_b]\ntoken = 'a'\n", "[team_b] token: the same token as client 'team_a'"),
        ("['bad name']\ntoken = 'a'\n", "[bad name] the table's name must be"),
        ("team_a = 3\n", "[team_a] must be a table"),
        ("[team_a\n", "is not valid TOML"),
    ],
)
def test_a_bad_clients_file_stops_start_up_naming_the_file_table_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_clients(Settings(clients_config_path=path))

    assert caught.value.variable == "CLIENTS_CONFIG_PATH"
    assert f"{path}: " in str(caught.value) and where in str(caught.value)


def test_a_client_may_not_share_client_tokens_token(tmp_path: Path) -> None:
    path = write(tmp_path, "[team_a]\ntoken = 'env-token'\n")

    with pytest.raises(ConfigError, match=r"\[team_a\] token: the same token as CLIENT_TOKEN"):
        load_clients(Settings(client_token="env-token", clients_config_path=path))


def test_the_settings_make_no_token_up_when_a_file_names_the_clients_or_workers(tmp_path: Path) -> None:
    clients, workers = write(tmp_path, "", "clients.toml"), write(tmp_path, "", "workers.toml")
    env = {"CLIENTS_CONFIG_PATH": clients, "WORKERS_CONFIG_PATH": workers, "ENVIRONMENT": "production"}

    settings = Settings.from_env(env | {"ORCHESTRATOR_SECRET_KEY": "s", "WEBHOOK_SECRET": "w" * 32})

    assert (settings.client_token, settings.global_worker_token) == ("", "")
    assert (settings.clients_config_path, settings.workers_config_path) == (clients, workers)
    with pytest.raises(ConfigError, match="CLIENTS_CONFIG_PATH"):
        Settings.from_env({"CLIENTS_CONFIG_PATH": str(tmp_path / "absent.toml")})


def test_rate_limit_settings_default_to_upstreams_and_are_checked() -> None:
    settings = Settings.from_env({})
    assert settings.rate_limiting_enabled
    assert (settings.rate_limit_limit, settings.rate_limit_period) == (100, 60.0)
    assert (settings.rate_limit_poll_limit, settings.rate_limit_heartbeat_limit) == (60, 120)
    assert not Settings.from_env({"RATE_LIMITING_ENABLED": "false"}).rate_limiting_enabled
    for name, bad in [("RATE_LIMIT_LIMIT", "0"), ("RATE_LIMIT_PERIOD", "-1"), ("RATE_LIMITING_ENABLED", "maybe")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: bad})


# -- workers.toml --------------------------------------------------------------------------------


def test_workers_are_kept_as_digests_with_their_skills(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        [gpu-1]
        token = "w-1"
        skills = ["resize", "echo"]
        description = "the big one"

        [cpu-1]
        token_sha256 = ["{sha("w-2")}", "{sha("w-2-next")}"]
        """,
        "workers.toml",
    )
    table = load_workers(path)

    assert table.grants == {
        sha("w-1"): WorkerGrant("gpu-1", frozenset({"resize", "echo"})),
        sha("w-2"): WorkerGrant("cpu-1"),
        sha("w-2-next"): WorkerGrant("cpu-1"),
    }
    assert table.listed() == {"gpu-1", "cpu-1"}
    assert b"w-1" not in encode_table(table)  # the token itself never travels
    assert decode_table(encode_table(table)) == table


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[w1]\nskills = ['a']\n", "[w1] token: missing"),
        ("[w1]\ntoken = 'a'\nskills = 'echo'\n", "[w1] skills: must be a list of non-empty strings"),
        ("[w1]\ntoken = 'a'\nweight = 2\n", "[w1] weight: unknown key"),
        ("['pattern:gpu-*']\ntoken = 'a'\n", "[pattern:gpu-*] the table's name must be"),
        ("[w1]\ntoken = 'a'\n[w2]\ntoken = 'a'\n", "[w2] token: the same token as worker 'w1'"),
    ],
)
def test_a_bad_workers_file_names_the_file_table_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text, "workers.toml")

    with pytest.raises(ConfigError) as caught:
        load_workers(path)

    assert caught.value.variable == "WORKERS_CONFIG_PATH" and where in str(caught.value)


# -- the pure rules ------------------------------------------------------------------------------


def test_gcra_lets_the_limit_through_at_once_then_one_per_interval() -> None:
    rate, tat, waits = Rate(limit=2, period=10.0), None, []
    for _ in range(3):
        wait, new = gcra(tat, 100.0, rate)
        waits.append(wait)
        tat = new if new is not None else tat
    assert waits == [0.0, 0.0, 5.0]
    assert gcra(tat, 105.0, rate)[0] == 0.0
    assert gcra(tat, 100.0, rate, peek=True) == (5.0, None)


def test_quota_windows_are_the_utc_day_and_month() -> None:
    day, month = quota_windows(1_798_761_599.5)  # 2026-12-31 23:59:59.5 UTC

    assert (day.label, day.ends_at) == ("2026-12-31", 1_798_761_600.0)
    assert (month.label, month.ends_at) == ("2026-12", 1_798_761_600.0)
    next_day, next_month = quota_windows(1_798_761_600.0)
    assert (next_day.label, next_month.label, next_month.ends_at) == ("2027-01-01", "2027-01", 1_801_440_000.0)


def test_the_example_files_in_docs_load() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"

    clients = load_clients(Settings(clients_config_path=str(docs / "clients.example.toml")))
    workers = load_workers(str(docs / "workers.example.toml"))

    team_a = clients.find("a-secret-2")
    assert team_a is not None and team_a.plan == "premium" and team_a.quota.limited
    assert workers.listed() == {"gpu-worker-01", "cpu-worker-01"}


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("variable", "text", "where"),
    [
        ("CLIENTS_CONFIG_PATH", "[team_a]\ntoken = 'a'\njobs_per_day = -1\n", "[team_a] jobs_per_day"),
        ("WORKERS_CONFIG_PATH", "[w1]\ntoken = 'a'\nskills = 'echo'\n", "[w1] skills"),
    ],
)
def test_avtomat_up_stops_on_a_bad_file_before_starting_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    text: str,
    where: str,
) -> None:
    for name in ("ENVIRONMENT", "ENV", "RABBITMQ_URL", "REDIS_URL", "SCHEDULES_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BLUEPRINTS_DIR", str(tmp_path))
    monkeypatch.setenv("API_PORT", "0")
    monkeypatch.setenv(variable, write(tmp_path, text, "config.toml"))

    assert main(["up"]) == 2

    err = capsys.readouterr().err
    assert f"{variable}: {tmp_path / 'config.toml'}: {where}" in err
