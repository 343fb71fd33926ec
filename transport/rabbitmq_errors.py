"""aio-pika's and aiormq's exceptions meaning "RabbitMQ is away" become ``BrokerUnavailable``, at the edge.

"Away" is: no connection, a channel lost with it, a socket error or a timeout. Bad credentials or
protocol (``AMQPConnectionError`` subclasses that no retry cures) and refusals
(``PRECONDITION_FAILED``, an unroutable publish) go through unchanged. The original exception is
the ``__cause__``. The twin of ``transport.redis_errors``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

from aio_pika.exceptions import (
    AMQPConnectionError,
    AuthenticationError,
    ChannelInvalidStateError,
    IncompatibleProtocolError,
    ProbableAuthenticationError,
)

from engine.errors import BrokerUnavailable

AWAY = (OSError, TimeoutError, ChannelInvalidStateError, AMQPConnectionError)
_MISCONFIGURED = (AuthenticationError, ProbableAuthenticationError, IncompatibleProtocolError)


@contextlib.contextmanager
def broker_errors(doing: str) -> Iterator[None]:
    """Raise ``BrokerUnavailable`` (from the original) for an error meaning RabbitMQ is away."""
    try:
        yield
    except AWAY as exc:
        reraise(exc, doing)


def translate(exc: Exception, doing: str) -> Exception:
    """``exc`` itself if no retry cures it, else ``BrokerUnavailable`` (caused by ``exc``) naming
    what was being done."""
    if isinstance(exc, _MISCONFIGURED):
        return exc
    unavailable = BrokerUnavailable(f"RabbitMQ is unavailable ({doing}): {type(exc).__name__}: {exc}")
    unavailable.__cause__ = exc
    return unavailable


def reraise(exc: Exception, doing: str) -> NoReturn:
    """Raise ``translate(exc, doing)``. For hot paths that catch ``AWAY`` with a plain ``try``
    (a tenth of ``broker_errors``' cost)."""
    raise translate(exc, doing)
