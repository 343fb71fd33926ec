"""What a job keeps in the object store instead of its state: the claim check, and the handle a
handler's ``task_files`` gets.

The engine does no I/O: the step is handed a ``JobObjects`` capability (built by the composition
root over the object store) and calls it. Without one (``None``), nothing is offloaded and
``task_files`` is ``None``.

Claim check: a payload (``initial_data``, a task's ``params``) whose JSON is larger than
``inline_limit`` bytes goes out value by value, the largest top-level values first, until what
stays inline fits. Each value leaves as a JSON object in the store under
``{job_id}/payloads/{where}/...``, and a *reference* takes its place: ``{"$avtomat_object": key,
"size": n}``. Small payloads cost one encoding to measure them. Handlers never see a reference:
``check_out`` reads the values back before a handler runs; workers get a presigned URL in its
place (the gateway signs it when it hands the task out).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import msgspec

MARKER = "$avtomat_object"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TaskFilesHandle(Protocol):
    """What the step needs of a handler's ``task_files``: to close it when the handler returns
    (local downloads are removed then)."""

    async def aclose(self) -> None: ...


class JobObjects(Protocol):
    """The object store as the step uses it."""

    @property
    def inline_limit(self) -> int:
        """Payloads whose JSON is larger than this many bytes are offloaded."""

    def task_files(self, job_id: str) -> TaskFilesHandle:
        """A new ``task_files`` for one handler call of job ``job_id`` (no I/O until used)."""

    async def put_payload(self, job_id: str, key: str, data: bytes) -> None:
        """Store ``data`` (JSON) under ``key``, within the job's prefix; overwrites."""

    async def get_payload(self, key: str) -> bytes:
        """The bytes under ``key``; ``ObjectNotFound`` if there are none."""


def reference(key: str, size: int) -> dict[str, Any]:
    return {MARKER: key, "size": size}


def referenced_key(value: Any) -> str | None:
    """The object key ``value`` refers to, or None if it is not a reference."""
    if type(value) is dict and len(value) == 2 and isinstance(value.get(MARKER), str):
        return str(value[MARKER])
    return None


def has_references(data: dict[str, Any]) -> bool:
    return any(type(value) is dict and MARKER in value for value in data.values())


async def check_in(objects: JobObjects | None, job_id: str, where: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as it may be stored: itself when its JSON fits ``inline_limit`` (one encoding),
    else a copy whose largest top-level values are references to objects written now.

    Idempotent per ``where``: checking the same data in again writes the same keys. A value that
    is already a reference is never offloaded again."""
    if objects is None or not data:
        return data
    limit = objects.inline_limit
    total = len(msgspec.json.encode(data))
    if total <= limit:
        return data
    encoded = {name: msgspec.json.encode(value) for name, value in data.items() if referenced_key(value) is None}
    out = dict(data)
    for index, name in enumerate(sorted(encoded, key=lambda n: len(encoded[n]), reverse=True)):
        blob = encoded[name]
        key = f"{job_id}/payloads/{where}/{index}-{_UNSAFE.sub('_', name)[:64] or 'value'}.json"
        await objects.put_payload(job_id, key, blob)
        out[name] = reference(key, len(blob))
        total += len(msgspec.json.encode(out[name])) - len(blob)
        if total <= limit:
            break
    return out


async def check_out(objects: JobObjects | None, job_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every reference into job ``job_id``'s prefix replaced by its value: a copy if
    there was any, else ``data`` itself. A reference outside the prefix is left as it is."""
    if objects is None or not has_references(data):
        return data
    out = dict(data)
    for name, value in data.items():
        key = referenced_key(value)
        if key is not None and key.startswith(f"{job_id}/"):
            out[name] = msgspec.json.decode(await objects.get_payload(key))
    return out
