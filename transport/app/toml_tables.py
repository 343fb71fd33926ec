"""Reading a TOML file of ``[name]`` tables (``clients.toml``, ``workers.toml``) strictly: every
error is a ``ConfigError`` naming the variable, the file, the table and the key."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def read_tables(variable: str, path: str) -> list[Table]:
    """The file's top-level tables, in file order; a key that is not a table is an error."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(variable, f"{path}: cannot be read: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(variable, f"{path}: is not valid TOML: {exc}") from None
    return [Table(variable, path, name, table) for name, table in doc.items()]


def token_digest(token: str) -> bytes:
    """The SHA-256 of a token: what is kept and compared, never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class Table:
    """One ``[name]`` table being read."""

    def __init__(self, variable: str, path: str, name: str, table: Any) -> None:
        self.variable, self.path, self.name = variable, path, name
        if not isinstance(table, dict):
            raise self.error("", f"must be a table, got {table!r}")
        if not IDENTIFIER.fullmatch(name):
            raise self.error("", "the table's name must be 1-128 letters, digits, '_' or '-'")
        self.table: dict[str, Any] = table

    def error(self, key: str, problem: str) -> ConfigError:
        where = f"[{self.name}] {key}:" if key else f"[{self.name}]"
        return ConfigError(self.variable, f"{self.path}: {where} {problem}")

    def check_keys(self, allowed: Iterable[str]) -> None:
        known = set(allowed)
        for key in self.table:
            if key not in known:
                raise self.error(key, f"unknown key; allowed: {', '.join(sorted(known))}")

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.table.get(key, default)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def count(self, key: str, *, minimum: int = 0) -> int | None:
        value = self.table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise self.error(key, f"must be a whole number of at least {minimum}, got {value!r}")
        return value

    def seconds(self, key: str) -> float | None:
        value = self.table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not value > 0):
            raise self.error(key, f"must be a positive number of seconds, got {value!r}")
        return None if value is None else float(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {value!r}")
        return value

    def strings(self, key: str) -> list[str] | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"must be a list of non-empty strings, got {value!r}")
        return value

    def digests(self, clear: str, hashed: str) -> list[bytes]:
        """The SHA-256 digests of the table's tokens: ``clear`` (a string or a list) hashed here,
        and ``hashed`` (hex, a string or a list) as written; at least one."""
        found = [token_digest(token) for token in self._one_or_many(clear)]
        for digest in self._one_or_many(hashed):
            if not _HEX_DIGEST.fullmatch(digest.lower()):
                raise self.error(hashed, f"must be a SHA-256 digest in hex (64 characters), got {digest!r}")
            found.append(bytes.fromhex(digest))
        if not found:
            raise self.error(clear, f"missing: give {clear} or {hashed}")
        return found

    def _one_or_many(self, key: str) -> list[str]:
        value = self.table.get(key)
        if value is None:
            return []
        if isinstance(value, str) and value:
            return [value]
        many = self.strings(key) if isinstance(value, list) and value else None
        if not many:
            raise self.error(key, f"must be a non-empty string or list of them, got {value!r}")
        return many
