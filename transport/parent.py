"""``ParentLink`` over RXON HTTP: the parent orchestrator through rxon's own worker-side client
(``rxon.transports.http.HttpTransport``), as the avtomatika-worker SDK talks to it.

- Every message it sends is signed as the SDK signs it (``security.signature``: HMAC of the
  canonical form with the worker token, ``signer_id`` = the worker id) and carries a
  ``timestamp``; a parent that checks signatures accepts it, one that does not ignores them.
- With ``secret`` (the parent's ``ORCHESTRATOR_SECRET_KEY``), a task must carry a valid ``sig``,
  as the SDK requires: one that does not never reaches the holon, and is answered at once with a
  ``SECURITY_ERROR`` failure (the parent quarantines it; the SDK answers nothing and leaves the
  task to its lease). Without a secret, ``sig`` is not read.
- Errors: no answer (connection refused, timeout, 429) raises ``ParentUnavailable``; an error
  status raises ``ParentRefused`` with it. Results go out once per call (the holon's runtime
  retries, with back-off); ``HttpTransport``'s own retries are not used.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import msgspec
from rxon.constants import ERROR_CODE_SECURITY, HB_RESP_CANCEL_TASKS, TASK_STATUS_FAILURE
from rxon.exceptions import RxonAuthError, RxonError, RxonNetworkError, RxonProtocolError, RxonRateLimitError
from rxon.models import (
    Heartbeat,
    SecurityContext,
    SkillInfo,
    TaskError,
    TaskPayload,
    TaskResult,
    WorkerCapabilities,
    WorkerRegistration,
)
from rxon.security import sign_payload, verify_signature
from rxon.transports.http import HttpTransport

from engine.errors import ParentRefused, ParentUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", WorkerRegistration, Heartbeat, TaskResult)

WORKER_TYPE = "avtomat"  # what the parent's worker list shows for a holon
TASK_SIGNATURE_IGNORED = ["sig", "orchestrator_signature"]  # as the SDK verifies ``sig``


class RxonParent:
    """``ParentLink`` on RXON HTTP. ``async with RxonParent(...)`` opens and closes its session."""

    def __init__(
        self,
        url: str,
        worker_id: str,
        token: str,
        *,
        secret: str = "",
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._http = HttpTransport(url, worker_id, token, ssl_context=ssl_context, result_retries=1)
        self._worker_id, self._token, self._secret, self._clock = worker_id, token, secret, clock

    @property
    def worker_id(self) -> str:
        return self._worker_id

    async def __aenter__(self) -> RxonParent:
        await self._http.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session; idempotent."""
        await self._http.close()

    async def register(self, skills: Sequence[SkillInfo]) -> None:
        registration = WorkerRegistration(
            worker_id=self._worker_id,
            worker_type=WORKER_TYPE,
            supported_skills=list(skills),
            available_skills=[skill.name for skill in skills],
            capabilities=WorkerCapabilities(hostname=socket.gethostname(), extra={"holon": True}),
            timestamp=int(self._clock()),
        )
        await _call(self._http.register(self._signed(registration)))

    async def heartbeat(self, status: str, current_tasks: Sequence[str]) -> list[str]:
        beat = Heartbeat(
            worker_id=self._worker_id, status=status, current_tasks=list(current_tasks), timestamp=int(self._clock())
        )
        answer: Any = await _call(self._http.send_heartbeat(self._signed(beat)))
        cancel = answer.get(HB_RESP_CANCEL_TASKS) if isinstance(answer, dict) else None
        return [str(task_id) for task_id in cancel or []]

    async def next_task(self, skills: Sequence[str], timeout: float) -> TaskPayload | None:
        task = await _call(self._http.poll_task(timeout=timeout, available_skills=list(skills)))
        if task is None or not self._secret:
            return task
        if task.sig and verify_signature(task, task.sig, self._secret, ignore_fields=TASK_SIGNATURE_IGNORED):
            return task
        log.error("parent task %s has no valid signature (sig); refused", task.task_id)
        error = TaskError(code=ERROR_CODE_SECURITY, message="the task's signature (sig) does not verify")
        refusal = TaskResult(
            job_id=task.job_id,
            task_id=task.task_id,
            worker_id=self._worker_id,
            status=TASK_STATUS_FAILURE,
            error=error,
            timestamp=int(self._clock()),
        )
        await self.send_result(refusal)
        return None

    async def send_result(self, result: TaskResult) -> bool:
        return await _call(self._http.send_result(self._signed(result), max_retries=1))

    def _signed(self, message: S) -> S:
        security = SecurityContext(signature=sign_payload(message, self._token), signer_id=self._worker_id)
        return msgspec.structs.replace(message, security=security)


async def _call(request: Awaitable[T]) -> T:
    """Await an ``HttpTransport`` call, its errors translated (see the module's docstring)."""
    try:
        return await request
    except (RxonNetworkError, RxonRateLimitError) as exc:
        raise ParentUnavailable(f"the parent orchestrator did not answer: {exc}") from exc
    except RxonAuthError as exc:
        raise ParentRefused(401, f"the parent orchestrator refused the worker token: {exc}") from exc
    except RxonProtocolError as exc:
        raise ParentRefused(int(exc.details.get("status", 0)), f"the parent orchestrator answered {exc}") from exc
    except RxonError as exc:
        raise ParentUnavailable(f"talking to the parent orchestrator failed: {exc}") from exc
