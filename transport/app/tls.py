"""The gateway's TLS settings: read, checked at start-up, and turned into the server's SSL context.

- ``TLS_CERT_PATH`` and ``TLS_KEY_PATH`` together turn TLS on (upstream's ``TLS_ENABLED`` may say
  so too, and ``TLS_ENABLED=false`` with them set is refused rather than silently ignored).
- ``TLS_CA_PATH`` is the CA that signs client certificates: with it the gateway asks each client
  for one (optional), with ``TLS_REQUIRE_CLIENT_CERT=true`` it refuses a connection without one.
- Each file is loaded at start-up, as the listener will load it: a missing, unreadable or
  malformed file, or a key that does not match its certificate, is a ``ConfigError`` naming the
  variable, never a gateway that starts and then fails every handshake.

The context is ``rxon.security.create_server_ssl_context``'s, the one upstream serves with.
Pure Holon mode's link to a parent on HTTPS uses ``client_context`` (``PARENT_TLS_*``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rxon.security import create_client_ssl_context, create_server_ssl_context

from engine import defaults
from engine.errors import ConfigError

MIXED, MTLS_ONLY, TOKEN_ONLY = "mixed", "mtls-only", "token-only"
AUTH_MODES = (MIXED, MTLS_ONLY, TOKEN_ONLY)

Get = Callable[[str], str]  # a variable's value, "" when unset or blank


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_path: str = ""
    key_path: str = ""
    ca_path: str = ""
    require_client_cert: bool = False
    worker_auth_mode: str = defaults.WORKER_AUTH_MODE

    @property
    def enabled(self) -> bool:
        return bool(self.cert_path)

    @property
    def client_certs(self) -> bool:
        """Clients are asked for a certificate (a CA to verify it is configured)."""
        return self.enabled and bool(self.ca_path)

    def server_context(self) -> ssl.SSLContext | None:
        """The listener's context, None without TLS. Loads the files: call ``read`` first."""
        if not self.enabled:
            return None
        return create_server_ssl_context(
            self.cert_path, self.key_path, self.ca_path or None, require_client_cert=self.require_client_cert
        )

    @classmethod
    def read(cls, get: Get, flag: Callable[[str], bool]) -> TlsSettings:
        """The TLS and worker-auth variables (``get``: a string, ``flag``: a boolean, false when
        unset), checked: ``ConfigError`` naming the first variable that is wrong."""
        enabled = get("TLS_ENABLED")
        cert, key, ca = (_readable(name, get(name)) for name in ("TLS_CERT_PATH", "TLS_KEY_PATH", "TLS_CA_PATH"))
        require = flag("TLS_REQUIRE_CLIENT_CERT")
        mode = get("WORKER_AUTH_MODE").lower() or defaults.WORKER_AUTH_MODE
        if mode not in AUTH_MODES:
            raise ConfigError("WORKER_AUTH_MODE", f"must be one of {', '.join(AUTH_MODES)} (got {mode!r})")
        if enabled and not flag("TLS_ENABLED") and (cert or key):
            raise ConfigError("TLS_ENABLED", "is false but TLS_CERT_PATH/TLS_KEY_PATH are set: unset one or the other")
        if enabled and flag("TLS_ENABLED") and not cert:
            raise ConfigError("TLS_CERT_PATH", "must be set when TLS_ENABLED is true (with TLS_KEY_PATH)")
        if key and not cert:
            raise ConfigError("TLS_CERT_PATH", "must be set with TLS_KEY_PATH (the server certificate)")
        if cert and not key:
            raise ConfigError("TLS_KEY_PATH", "must be set with TLS_CERT_PATH (the certificate's private key)")
        if (ca or require) and not cert:
            name = "TLS_CA_PATH" if ca else "TLS_REQUIRE_CLIENT_CERT"
            raise ConfigError(name, "needs TLS on: set TLS_CERT_PATH and TLS_KEY_PATH")
        if require and not ca:
            raise ConfigError("TLS_REQUIRE_CLIENT_CERT", "needs TLS_CA_PATH, the CA that signs the client certificates")
        if mode == MTLS_ONLY and not ca:
            raise ConfigError("WORKER_AUTH_MODE", "mtls-only needs client certificates: set TLS_CA_PATH (and TLS on)")
        settings = cls(cert, key, ca, require, mode)
        settings._load()
        return settings

    def _load(self) -> None:
        """Load every file as the listener will, naming the variable of the one that fails."""
        if not self.enabled:
            return
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert_path, self.key_path)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                "TLS_KEY_PATH", f"with TLS_CERT_PATH: not a PEM certificate and its matching private key ({exc})"
            ) from None
        if self.ca_path:
            try:
                ssl.create_default_context().load_verify_locations(cafile=self.ca_path)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError("TLS_CA_PATH", f"is not a PEM CA certificate ({exc})") from None


def client_context(ca_path: str, cert_path: str, key_path: str, prefix: str) -> ssl.SSLContext | None:
    """The context a client of a TLS server uses: it trusts ``ca_path`` besides the system's CAs
    and presents ``cert_path`` with ``key_path`` if set (mTLS); None when all three are unset.
    ``ConfigError`` naming ``{prefix}TLS_CA_PATH`` (``…CERT_PATH``, ``…KEY_PATH``) if one is wrong."""
    ca = _readable(f"{prefix}TLS_CA_PATH", ca_path)
    cert = _readable(f"{prefix}TLS_CERT_PATH", cert_path)
    key = _readable(f"{prefix}TLS_KEY_PATH", key_path)
    if bool(cert) != bool(key):
        missing, other = ("KEY", "CERT") if cert else ("CERT", "KEY")
        raise ConfigError(f"{prefix}TLS_{missing}_PATH", f"must be set with {prefix}TLS_{other}_PATH (mTLS needs both)")
    if not (ca or cert):
        return None
    try:
        context = create_client_ssl_context(ca_path=ca or None)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{prefix}TLS_CA_PATH", f"is not a PEM CA certificate ({exc})") from None
    if cert:
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                f"{prefix}TLS_KEY_PATH", f"with {prefix}TLS_CERT_PATH: not a PEM certificate and its key ({exc})"
            ) from None
    return context


def _readable(name: str, raw: str) -> str:
    if not raw:
        return ""
    path = Path(raw)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(name, f"cannot be read: {exc.strerror or exc} (got {raw!r})") from None
    if not path.is_file():
        raise ConfigError(name, f"is not a file (got {raw!r})")
    return raw
