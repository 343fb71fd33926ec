"""Retry and time-out policy: pure numbers and the back-off curve; a job's own policy
(``policy.allowed_skills`` of the job-creation body)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from rxon.constants import (
    ERROR_CODE_CONTRACT_VIOLATION,
    ERROR_CODE_DEPENDENCY,
    ERROR_CODE_DEPENDENCY_MISSING,
    ERROR_CODE_INTEGRITY_MISMATCH,
    ERROR_CODE_INVALID_INPUT,
    ERROR_CODE_PERMANENT,
    ERROR_CODE_SECURITY,
)

from engine import defaults

# A worker error code decides the job's fate (see ARCHITECTURE.md, "Failure semantics").
FAIL_JOB = frozenset({ERROR_CODE_INVALID_INPUT, ERROR_CODE_INTEGRITY_MISMATCH})
QUARANTINE = frozenset(
    {
        ERROR_CODE_PERMANENT,
        ERROR_CODE_SECURITY,
        ERROR_CODE_DEPENDENCY,
        ERROR_CODE_DEPENDENCY_MISSING,
        ERROR_CODE_CONTRACT_VIOLATION,
    }
)
# Every other code (TRANSIENT, TIMEOUT, RESOURCE_EXHAUSTED, INTERNAL, unknown) is retried.


@dataclass(frozen=True, slots=True)
class StepPolicy:
    """Limits applied by the step function; built from settings at start-up."""

    max_step_retries: int = defaults.JOB_MAX_RETRIES
    task_max_attempts: int = defaults.TASK_MAX_ATTEMPTS
    backoff_base: float = defaults.RETRY_BACKOFF_BASE_SECONDS
    backoff_cap: float = defaults.RETRY_BACKOFF_CAP_SECONDS
    result_timeout: float | None = defaults.WORKER_TIMEOUT_SECONDS
    dispatch_timeout: float | None = None
    max_child_depth: int = defaults.MAX_HOLARCHY_DEPTH

    def backoff(self, attempt: int, salt: str) -> float:
        """Exponential back-off with deterministic jitter in [0.5, 1.0) of the step.

        The jitter comes from ``salt`` (the job id) so replays compute the same delay and
        different jobs spread out.
        """
        raw = min(self.backoff_base * 2.0 ** max(attempt - 1, 0), self.backoff_cap)
        digest = hashlib.blake2b(f"{salt}:{attempt}".encode(), digest_size=2).digest()
        return raw * (0.5 + int.from_bytes(digest, "big") / 2**17)


def skills_refusal(allowed: Iterable[str] | None, task_types: Iterable[str]) -> str | None:
    """Why a job whose ``policy.allowed_skills`` is ``allowed`` may not dispatch ``task_types``,
    or None if it may (``allowed`` None: no policy, any skill). Pure and deterministic: a
    redelivered step refuses the same dispatch again."""
    if allowed is None:
        return None
    permitted = set(allowed)
    refused = sorted({t for t in task_types if t not in permitted})
    if not refused:
        return None
    shown = ", ".join(repr(s) for s in sorted(permitted)) or "none"
    return f"policy.allowed_skills does not allow task type {', '.join(map(repr, refused))} (allowed: {shown})"
