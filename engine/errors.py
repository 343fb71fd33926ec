"""The exception tree: one root, a few precise leaves.

Retryability is data on the error (``retryable``), never a string match.
"""

from __future__ import annotations


class AvtomatError(Exception):
    """Root of every error avtomat raises on purpose."""

    retryable: bool = False


class BlueprintError(AvtomatError):
    """A blueprint is malformed; raised when it is defined or registered, never at run time."""

    def __init__(self, blueprint: str, message: str, state: str | None = None) -> None:
        self.blueprint = blueprint
        self.state = state
        where = f"blueprint {blueprint!r}" + (f", state {state!r}" if state is not None else "")
        super().__init__(f"{where}: {message}")


class ConditionSyntaxError(AvtomatError):
    """A ``.when()`` expression does not parse. ``position`` is the 0-based offset in ``source``."""

    def __init__(self, source: str, position: int, message: str) -> None:
        self.source = source
        self.position = position
        self.reason = message
        super().__init__(f"{message} at position {position} in condition {source!r}")


class ActionError(AvtomatError):
    """A handler misused the ``actions`` object (a second action, a bad argument)."""


class HandlerError(AvtomatError):
    """A handler raised; the step is retried with back-off, then the job is quarantined."""

    retryable = True


class InjectionError(AvtomatError):
    """A handler asked for an argument that does not exist; the job fails at once."""


class MessageDecodeError(AvtomatError):
    """Bytes from the broker or store are not a valid message; ``raw`` keeps the payload."""

    def __init__(self, raw: bytes, message: str) -> None:
        self.raw = raw
        super().__init__(message)


class ConfigError(AvtomatError):
    """A setting is invalid; ``variable`` names the environment variable."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {message}")


class VersionConflict(AvtomatError):
    """A compare-and-set state write lost: someone else committed first. The caller redelivers."""

    retryable = True


class Unavailable(AvtomatError):
    """A backing service did not answer: the request or message is fine, the service is away.

    Retryable: the same call may succeed later, and a call that raised may still have taken
    effect (its reply was lost), so what is retried must be idempotent. The runtime retries a
    message in place without counting it as a failure; the gateway answers 503 with
    ``Retry-After``. Unlike ``VersionConflict``, the service never answered.
    """

    retryable = True


class StoreUnavailable(Unavailable):
    """The state store (Redis) is unreachable, timed out, or not serving yet (loading its data
    after a restart, a read-only replica).

    Unlike ``BrokerUnavailable``, a message's handling stopped before or during its commit: a
    retry reloads the state, finds the message applied if the commit went through, and goes on.
    """


class BrokerUnavailable(Unavailable):
    """The broker (RabbitMQ) is unreachable: a publish stayed unconfirmed past its timeout, or a
    connection or channel was lost under a call.

    Unlike ``StoreUnavailable``, the state is committed already when a publish fails: a retry
    publishes the outbox again, and receivers de-duplicate by envelope id (the message may
    have gone out before the confirm was lost).
    """


class ArchiveUnavailable(Unavailable):
    """The job archive's database (PostgreSQL) is unreachable, timed out, or gave up a transaction
    that a retry may pass (a deadlock, a serialization failure).

    Unlike ``StoreUnavailable``, no job waits on it: the archiver keeps its batch unacknowledged in
    the feed and writes it again later; the gateway answers 503 for a read only the archive holds.
    """


class ParentUnavailable(Unavailable):
    """The parent orchestrator (Pure Holon mode) did not answer: a network error or a timeout.

    Unlike ``ParentRefused``, the parent never answered: the same call may succeed later, and one
    that raised may have taken effect (a result the parent applied before the reply was lost), so
    the holon repeats only what the parent de-duplicates.
    """


class ParentRefused(AvtomatError):
    """The parent orchestrator answered with an error status (a 4xx or 5xx): it will not take
    this call as it is. ``status`` is the HTTP status. Unlike ``ParentUnavailable``, repeating the
    same call does not help; a heartbeat refused as "not found" means: register again."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class WebhookFailed(AvtomatError):
    """One webhook delivery attempt failed: the receiver was unreachable, too slow, or answered
    other than 2xx (retryable: the delivery is tried again after a back-off), or its address is
    refused (``WEBHOOK_ALLOW_PRIVATE``; not retryable: the delivery goes to the dead list at once).

    Unlike ``Unavailable``, nothing of avtomat's is away: the receiver is, and the job never
    waits for it."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)


class ObjectStoreUnavailable(Unavailable):
    """The object store (S3, or the local directory) did not answer, or answered with a server
    error. Unlike ``StoreUnavailable``, no job state is involved: an upload or a purge that raised
    is repeated whole (puts overwrite, deletes of missing objects are no-ops)."""


class ObjectNotFound(AvtomatError):
    """No object under that key (a handler's ``task_files`` read, a download): not retryable."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no object {key!r}")


class ObjectIntegrityError(AvtomatError):
    """An object's bytes do not match what was announced: the size or the checksum (ETag, MD5)
    differs. Not retryable: the same bytes fail the same way; the sender must send them again."""
