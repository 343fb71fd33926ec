"""The TLS and worker-auth settings are checked at start-up: each refusal names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ConfigError
from tests.support.certs import Pki, make_pki
from transport.app.settings import Settings


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_env(pki: Pki, **more: str) -> dict[str, str]:
    return {"TLS_CERT_PATH": str(pki.server.cert), "TLS_KEY_PATH": str(pki.server.key), **more}


def refused(env: dict[str, str], variable: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert says in str(caught.value)


def test_without_tls_variables_the_gateway_serves_plain_http() -> None:
    s = Settings.from_env({})

    assert not s.tls.enabled
    assert s.tls.server_context() is None
    assert s.tls.worker_auth_mode == "mixed"
    assert (s.sts_access_token_ttl_seconds, s.sts_refresh_token_ttl_seconds) == (3600, 86400)


def test_cert_and_key_turn_tls_on_and_a_ca_asks_for_client_certificates(pki: Pki) -> None:
    s = Settings.from_env(tls_env(pki, TLS_CA_PATH=str(pki.ca), TLS_REQUIRE_CLIENT_CERT="true"))

    assert s.tls.enabled and s.tls.client_certs and s.tls.require_client_cert
    assert s.tls.server_context() is not None
    assert Settings.from_env(tls_env(pki, TLS_ENABLED="true")).tls.enabled


def test_sts_and_mode_settings_are_read(pki: Pki) -> None:
    env = tls_env(
        pki,
        TLS_CA_PATH=str(pki.ca),
        WORKER_AUTH_MODE="MTLS-ONLY",
        STS_ACCESS_TOKEN_TTL_SECONDS="60",
        STS_REFRESH_TOKEN_TTL_SECONDS="600",
    )
    s = Settings.from_env(env)

    assert s.tls.worker_auth_mode == "mtls-only"
    assert (s.sts_access_token_ttl_seconds, s.sts_refresh_token_ttl_seconds) == (60, 600)


def test_a_key_without_a_certificate_is_refused(pki: Pki) -> None:
    refused({"TLS_KEY_PATH": str(pki.server.key)}, "TLS_CERT_PATH", "must be set with TLS_KEY_PATH")
    refused({"TLS_CERT_PATH": str(pki.server.cert)}, "TLS_KEY_PATH", "must be set with TLS_CERT_PATH")
    refused({"TLS_ENABLED": "true"}, "TLS_CERT_PATH", "must be set when TLS_ENABLED is true")
    refused(tls_env(pki, TLS_ENABLED="false"), "TLS_ENABLED", "is false but")
    refused(tls_env(pki, TLS_ENABLED="maybe"), "TLS_ENABLED", "must be true or false")


def test_unreadable_or_malformed_files_are_refused(pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    refused(tls_env(pki, TLS_CERT_PATH=missing), "TLS_CERT_PATH", "cannot be read")
    refused(tls_env(pki, TLS_KEY_PATH=str(tmp_path)), "TLS_KEY_PATH", "cannot be read")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    refused(tls_env(pki, TLS_CERT_PATH=str(garbage)), "TLS_KEY_PATH", "not a PEM certificate")
    refused(tls_env(pki, TLS_KEY_PATH=str(pki.client("w1").key)), "TLS_KEY_PATH", "matching private key")
    refused(tls_env(pki, TLS_CA_PATH=str(garbage)), "TLS_CA_PATH", "is not a PEM CA certificate")


def test_client_certificates_need_a_ca_and_tls(pki: Pki) -> None:
    refused(tls_env(pki, TLS_REQUIRE_CLIENT_CERT="true"), "TLS_REQUIRE_CLIENT_CERT", "needs TLS_CA_PATH")
    refused({"TLS_CA_PATH": str(pki.ca)}, "TLS_CA_PATH", "needs TLS on")
    refused({"TLS_REQUIRE_CLIENT_CERT": "yes"}, "TLS_REQUIRE_CLIENT_CERT", "needs TLS on")
    refused(tls_env(pki, TLS_REQUIRE_CLIENT_CERT="sometimes"), "TLS_REQUIRE_CLIENT_CERT", "must be true or false")


def test_bad_worker_auth_modes_are_refused(pki: Pki) -> None:
    refused({"WORKER_AUTH_MODE": "certs"}, "WORKER_AUTH_MODE", "must be one of mixed, mtls-only, token-only")
    refused(tls_env(pki, WORKER_AUTH_MODE="mtls-only"), "WORKER_AUTH_MODE", "set TLS_CA_PATH")


def test_bad_sts_lifetimes_are_refused() -> None:
    refused({"STS_ACCESS_TOKEN_TTL_SECONDS": "0"}, "STS_ACCESS_TOKEN_TTL_SECONDS", "positive integer")
    refused({"STS_REFRESH_TOKEN_TTL_SECONDS": "1.5"}, "STS_REFRESH_TOKEN_TTL_SECONDS", "invalid literal")
    refused(
        {"STS_ACCESS_TOKEN_TTL_SECONDS": "600", "STS_REFRESH_TOKEN_TTL_SECONDS": "60"},
        "STS_REFRESH_TOKEN_TTL_SECONDS",
        "shorter than STS_ACCESS_TOKEN_TTL_SECONDS",
    )


PARENT = {"PARENT_ORCHESTRATOR_URL": "https://parent.example:8080", "PARENT_WORKER_TOKEN": "t"}


def test_a_parent_on_https_may_be_trusted_by_its_ca_and_given_a_client_certificate(pki: Pki) -> None:
    mine = pki.client("holon-1")
    env = {**PARENT, "PARENT_TLS_CA_PATH": str(pki.ca)}

    assert Settings.from_env(PARENT).parent is not None
    assert Settings.from_env(PARENT).parent.ssl_context() is None  # type: ignore[union-attr]
    both = Settings.from_env({**env, "PARENT_TLS_CERT_PATH": str(mine.cert), "PARENT_TLS_KEY_PATH": str(mine.key)})
    assert both.parent is not None and both.parent.ssl_context() is not None


def test_wrong_parent_tls_files_are_refused(pki: Pki, tmp_path: Path) -> None:
    mine, garbage = pki.client("holon-1"), tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    refused({**PARENT, "PARENT_TLS_CERT_PATH": str(mine.cert)}, "PARENT_TLS_KEY_PATH", "must be set with")
    refused({**PARENT, "PARENT_TLS_KEY_PATH": str(mine.key)}, "PARENT_TLS_CERT_PATH", "must be set with")
    refused({**PARENT, "PARENT_TLS_CA_PATH": str(tmp_path / "nope.pem")}, "PARENT_TLS_CA_PATH", "cannot be read")
    refused({**PARENT, "PARENT_TLS_CA_PATH": str(garbage)}, "PARENT_TLS_CA_PATH", "is not a PEM CA certificate")
    cert_of_another_key = {"PARENT_TLS_CERT_PATH": str(mine.cert), "PARENT_TLS_KEY_PATH": str(pki.server.key)}
    refused({**PARENT, **cert_of_another_key}, "PARENT_TLS_KEY_PATH", "not a PEM certificate and its key")
    refused({"PARENT_TLS_CA_PATH": str(pki.ca)}, "PARENT_TLS_CA_PATH", "PARENT_ORCHESTRATOR_URL")
