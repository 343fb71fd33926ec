"""Settings are read from an environment mapping, validated at start-up, and fail fast."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from engine import ConfigError
from transport.app.cli import main
from transport.app.settings import DEFAULT_BLUEPRINTS_DIR, Settings

TOKENS = ("CLIENT_TOKEN", "GLOBAL_WORKER_TOKEN", "ORCHESTRATOR_SECRET_KEY", "WEBHOOK_SECRET")
ALL_TOKENS_SET = {name: f"secret-{name.lower()}" for name in TOKENS}


def test_defaults() -> None:
    s = Settings.from_env({})

    assert s.api_host == "127.0.0.1"
    assert s.api_port == 8080
    assert s.environment == "development"
    assert s.blueprints_dir == DEFAULT_BLUEPRINTS_DIR
    assert s.job_max_retries == 3
    assert s.task_max_attempts == 3
    assert s.worker_timeout_seconds == 300.0
    assert s.dispatch_timeout_seconds is None
    assert s.task_lease_seconds == 60.0
    assert s.router_reservation_seconds == 2.0
    assert s.log_level == "INFO"
    assert s.log_format == "text"
    assert s.worker_ttl == 2 * s.worker_health_check_interval_seconds


def test_missing_tokens_are_generated_and_listed() -> None:
    s = Settings.from_env({})

    assert s.generated == TOKENS
    tokens = {s.client_token, s.global_worker_token, s.orchestrator_secret_key, s.webhook_secret}
    assert len(tokens) == 4  # each generated independently
    assert all(len(t) >= 20 for t in tokens)
    assert s.webhook_secret.startswith("whsec_")
    assert len(s.webhook_key) == 24


def test_given_tokens_are_used_and_not_listed_as_generated() -> None:
    s = Settings.from_env({"CLIENT_TOKEN": "abc"})

    assert s.client_token == "abc"
    assert s.generated == ("GLOBAL_WORKER_TOKEN", "ORCHESTRATOR_SECRET_KEY", "WEBHOOK_SECRET")


@pytest.mark.parametrize("missing", TOKENS)
@pytest.mark.parametrize("environment", ["production", "PROD"])
def test_production_requires_every_token(environment: str, missing: str) -> None:
    env = {**ALL_TOKENS_SET, "ENVIRONMENT": environment}
    del env[missing]

    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)

    assert caught.value.variable == missing
    assert missing in str(caught.value)


def test_production_with_every_token_starts() -> None:
    s = Settings.from_env({**ALL_TOKENS_SET, "ENVIRONMENT": "production"})

    assert s.environment == "production"
    assert s.generated == ()


def test_values_are_parsed() -> None:
    s = Settings.from_env(
        {
            "API_PORT": "9000",
            "JOB_MAX_RETRIES": "0",
            "DISPATCH_TIMEOUT_SECONDS": "12.5",
            "TASK_LEASE_SECONDS": "2.5",
            "ROUTER_RESERVATION_SECONDS": "0.5",
            "PICKUP_ANNOUNCE_DELAY_SECONDS": "0",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "JSON",
        }
    )

    assert s.api_port == 9000
    assert s.job_max_retries == 0
    assert s.dispatch_timeout_seconds == 12.5
    assert s.task_lease_seconds == 2.5
    assert s.router_reservation_seconds == 0.5
    assert s.pickup_announce_delay_seconds == 0
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"


def test_blank_value_means_default() -> None:
    assert Settings.from_env({"API_PORT": "  "}).api_port == 8080


def test_existing_blueprints_dir_is_accepted(tmp_path: Path) -> None:
    assert Settings.from_env({"BLUEPRINTS_DIR": str(tmp_path)}).blueprints_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_PORT", "abc"),
        ("API_PORT", "70000"),
        ("API_PORT", "-1"),
        ("JOB_MAX_RETRIES", "-1"),
        ("JOB_MAX_RETRIES", "1.5"),
        ("BLUEPRINTS_DIR", "/nonexistent"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("WORKER_TIMEOUT_SECONDS", "0"),
        ("WORKER_TIMEOUT_SECONDS", "nan"),
        ("WORKER_TIMEOUT_SECONDS", "inf"),
        ("DISPATCH_TIMEOUT_SECONDS", "-3"),
        ("TASK_MAX_ATTEMPTS", "0"),
        ("TASK_LEASE_SECONDS", "0"),
        ("TASK_LEASE_SECONDS", "inf"),
        ("ROUTER_RESERVATION_SECONDS", "0"),
        ("PICKUP_ANNOUNCE_DELAY_SECONDS", "-0.1"),
        ("PICKUP_ANNOUNCE_DELAY_SECONDS", "inf"),
        ("JOB_SHARDS", "many"),
        ("WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("WEBHOOK_MAX_AGE_SECONDS", "0"),
        ("WEBHOOK_TIMEOUT_SECONDS", "-1"),
        ("WEBHOOK_CONCURRENCY", "0"),
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})

    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}:")
    assert repr(value) in str(caught.value)


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})

    with pytest.raises(AttributeError):
        s.api_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RABBITMQ_URL", "localhost:5672"),
        ("RABBITMQ_URL", "http://localhost"),
        ("REDIS_URL", "localhost:6379"),
        ("RABBITMQ_QUEUE_TYPE", "stream"),
        ("FINISHED_JOB_TTL_SECONDS", "-5"),
    ],
)
def test_bad_distributed_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable


RABBITMQ = "amqp://guest:guest@127.0.0.1/"
REDIS = "redis://127.0.0.1:6379/0"


def test_the_distributed_runtime_needs_both_urls() -> None:
    assert not Settings.from_env({}).distributed
    both = Settings.from_env({"RABBITMQ_URL": RABBITMQ, "REDIS_URL": REDIS})
    assert both.distributed
    assert both.rabbitmq_queue_type == "classic"


@pytest.mark.parametrize(
    ("given", "missing"), [({"RABBITMQ_URL": RABBITMQ}, "REDIS_URL"), ({"REDIS_URL": REDIS}, "RABBITMQ_URL")]
)
def test_one_url_without_the_other_is_an_error_naming_both(given: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**given, missing: "  "})  # blank is unset

    assert caught.value.variable == missing
    assert "RABBITMQ_URL" in str(caught.value)
    assert "REDIS_URL" in str(caught.value)


def test_settings_built_in_code_check_the_urls_too() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings(rabbitmq_url=RABBITMQ)


@pytest.mark.parametrize("command", ["up", "node", "gateway"])
def test_cli_with_one_url_exits_2_naming_both(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RABBITMQ_URL", RABBITMQ)
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name in ("ENVIRONMENT", "ENV", "BLUEPRINTS_DIR", "API_PORT"):
        monkeypatch.delenv(name, raising=False)

    assert main([command]) == 2

    err = capsys.readouterr().err
    assert err.startswith("avtomat: REDIS_URL: ")
    assert "RABBITMQ_URL" in err


# -- webhooks -----------------------------------------------------------------------------------


def test_webhook_settings_are_parsed() -> None:
    s = Settings.from_env(
        {
            "WEBHOOK_MAX_AGE_SECONDS": "60",
            "WEBHOOK_TIMEOUT_SECONDS": "2.5",
            "WEBHOOK_CONCURRENCY": "4",
            "WEBHOOK_ALLOW_PRIVATE": "False",
        }
    )

    assert (s.webhook_max_age_seconds, s.webhook_timeout_seconds, s.webhook_concurrency) == (60.0, 2.5, 4)
    assert s.webhook_allow_private is False


def test_webhook_defaults() -> None:
    s = Settings.from_env({})

    assert (s.webhook_max_age_seconds, s.webhook_timeout_seconds, s.webhook_concurrency) == (86400.0, 10.0, 16)


@pytest.mark.parametrize(
    ("environment", "allowed"), [("development", True), ("dev", True), ("staging", False), ("production", False)]
)
def test_private_webhook_addresses_are_allowed_by_default_in_development_only(environment: str, allowed: bool) -> None:
    s = Settings.from_env({**ALL_TOKENS_SET, "ENVIRONMENT": environment})

    assert s.webhook_allow_private is allowed
    assert Settings.from_env({**ALL_TOKENS_SET, "ENVIRONMENT": environment, "WEBHOOK_ALLOW_PRIVATE": "true"})


def test_a_whsec_secret_is_base64_after_its_prefix_and_any_other_is_its_bytes() -> None:
    key = bytes(range(32))

    standard = Settings.from_env({"WEBHOOK_SECRET": "whsec_" + base64.b64encode(key).decode()})
    plain = Settings.from_env({"WEBHOOK_SECRET": "a passphrase of some length"})

    assert standard.webhook_key == key
    assert plain.webhook_key == b"a passphrase of some length"
    assert "WEBHOOK_SECRET" not in standard.generated


@pytest.mark.parametrize("secret", ["too-short", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_a_bad_webhook_secret_is_named_but_not_shown(secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"WEBHOOK_SECRET": secret})

    assert caught.value.variable == "WEBHOOK_SECRET"
    assert secret not in str(caught.value)


def test_a_distributed_gateway_does_not_need_the_webhook_secret() -> None:
    """Only nodes sign webhooks: a gateway shares the three tokens, not WEBHOOK_SECRET."""
    tokens = {name: f"secret-{name.lower()}" for name in TOKENS if name != "WEBHOOK_SECRET"}
    s = Settings.from_env({**tokens, "RABBITMQ_URL": RABBITMQ, "REDIS_URL": REDIS})

    assert s.generated == ("WEBHOOK_SECRET",)
    s.require_shared_secrets()  # no error


# -- object storage -----------------------------------------------------------------------------


def test_without_s3_the_object_store_is_a_local_directory() -> None:
    o = Settings.from_env({}).objects
    assert not o.s3
    assert Path(o.path).is_absolute() and Path(o.task_files_dir).is_absolute()
    assert (o.s3_bucket, o.s3_region) == ("avtomatika-payloads", "us-east-1")
    assert (o.inline_limit, o.url_seconds, o.auto_cleanup) == (262144, 3600, True)


def test_s3_settings_are_read_as_upstream_names_them() -> None:
    env = {"S3_ENDPOINT_URL": "http://minio:9000/", "S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s",
           "S3_DEFAULT_BUCKET": "jobs", "S3_REGION": "eu-west-1", "S3_AUTO_CLEANUP": "false",
           "PAYLOAD_INLINE_LIMIT_BYTES": "4096"}  # fmt: skip
    o = Settings.from_env(env).objects
    assert o.s3 and o.s3_endpoint_url == "http://minio:9000"
    assert (o.s3_access_key, o.s3_secret_key, o.s3_bucket, o.s3_region) == ("k", "s", "jobs", "eu-west-1")
    assert (o.auto_cleanup, o.inline_limit) == (False, 4096)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"S3_ENDPOINT_URL": "http://minio:9000", "S3_SECRET_KEY": "s"}, "S3_ACCESS_KEY"),
        ({"S3_ENDPOINT_URL": "http://minio:9000", "S3_ACCESS_KEY": "k"}, "S3_SECRET_KEY"),
        ({"S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}, "S3_ENDPOINT_URL"),
        ({"S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL"),
        ({"S3_DEFAULT_BUCKET": "Not_A_Bucket"}, "S3_DEFAULT_BUCKET"),
        ({"S3_REGION": "EU WEST"}, "S3_REGION"),
        ({"PAYLOAD_INLINE_LIMIT_BYTES": "12"}, "PAYLOAD_INLINE_LIMIT_BYTES"),
        ({"PRESIGNED_URL_SECONDS": "0"}, "PRESIGNED_URL_SECONDS"),
        ({"S3_AUTO_CLEANUP": "maybe"}, "S3_AUTO_CLEANUP"),
        ({"OBJECT_STORE_PATH": __file__}, "OBJECT_STORE_PATH"),
    ],
)
def test_bad_object_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
