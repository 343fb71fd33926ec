"""redis-py's exceptions meaning "the server is away" become ``StoreUnavailable``, at the edge.

"Away" is: no connection (refused, reset, closed mid-reply), a timeout, a server still loading
its data after a restart (``BusyLoadingError``), a read-only replica or a cluster that is down.
Everything else (a script's ``error_reply``, a wrong type, bad credentials) is a bug or a
configuration error and goes through unchanged. The original exception is the ``__cause__``.

Use ``store_errors()`` around one call, or ``@translate_errors`` on a class to wrap each of its
public coroutine methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

from redis import exceptions as rx

from engine.errors import StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

SERVER_AWAY: tuple[type[Exception], ...] = (
    rx.ConnectionError,  # BusyLoadingError and MaxConnectionsError among them
    rx.TimeoutError,
    rx.ReadOnlyError,
    rx.TryAgainError,
    rx.ClusterDownError,
    OSError,  # a socket error redis-py did not wrap
    TimeoutError,
)
# Subclasses of ConnectionError that no retry cures.
_MISCONFIGURED: tuple[type[Exception], ...] = (rx.AuthenticationError, rx.AuthorizationError)


def is_server_away(exc: BaseException) -> bool:
    return isinstance(exc, SERVER_AWAY) and not isinstance(exc, _MISCONFIGURED)


def translate(exc: Exception) -> Exception:
    """``StoreUnavailable`` (caused by ``exc``) if ``exc`` means Redis is away, else ``exc``."""
    if not is_server_away(exc):
        return exc
    unavailable = StoreUnavailable(f"Redis is unavailable: {type(exc).__name__}: {exc}")
    unavailable.__cause__ = exc
    return unavailable


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Raise ``StoreUnavailable`` (from the original) for an error meaning Redis is away."""
    try:
        yield
    except SERVER_AWAY as exc:
        raise translate(exc)  # noqa: B904 (translate sets the cause, or returns exc itself)


def translated_method(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    # A plain try, not ``store_errors()``: this wraps every store call, and a generator-based
    # context manager would cost ten times as much as the call's own frame.
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await method(*args, **kwargs)
        except SERVER_AWAY as exc:
            raise translate(exc)  # noqa: B904 (translate sets the cause, or returns exc itself)
        # redis-py (8.x, asyncio) can swallow a cancellation that lands while it opens a
        # connection or waits for a reply, and return normally: a loop of store calls being
        # stopped would run on, and its node never close. Raise it again here, for every caller.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        return result

    return wrapper


def translate_errors(cls: C) -> C:
    """Class decorator: every public coroutine method of ``cls`` (its own, not inherited) raises
    ``StoreUnavailable`` instead of a redis-py "server away" error."""
    for name, attribute in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(attribute):
            setattr(cls, name, translated_method(attribute))
    return cls
