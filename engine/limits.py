"""Rate limits and quotas, as pure rules: the GCRA step the stores apply atomically, and the
calendar windows quotas are counted in.

- A ``Rate`` of ``limit`` calls per ``period`` lets ``limit`` calls through at once, then one
  every ``period / limit`` seconds (GCRA: the generic cell rate algorithm, a token bucket kept
  as one timestamp, the "theoretical arrival time").
- A ``Quota`` counts the jobs a client creates: per UTC day, per UTC calendar month
  (``monthly_attempts``, upstream's name) and running at once.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

JOBS_PER_DAY = "jobs_per_day"
MONTHLY_ATTEMPTS = "monthly_attempts"
MAX_RUNNING_JOBS = "max_running_jobs"


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` calls per ``period`` seconds (both positive)."""

    limit: int
    period: float

    @property
    def interval(self) -> float:
        return self.period / self.limit


@dataclass(frozen=True, slots=True)
class Quota:
    """A client's job quotas; ``None`` is unlimited."""

    jobs_per_day: int | None = None
    monthly_attempts: int | None = None
    max_running_jobs: int | None = None

    @property
    def limited(self) -> bool:
        return (self.jobs_per_day, self.monthly_attempts, self.max_running_jobs) != (None, None, None)


def gcra(tat: float | None, now: float, rate: Rate, *, peek: bool = False) -> tuple[float, float | None]:
    """One GCRA step: ``(retry_after, new_tat)``.

    ``retry_after`` is 0.0 when the call passes, else the seconds until it would. ``new_tat`` is
    the theoretical arrival time to store, or ``None`` to leave it (a refusal, or a ``peek``,
    which asks whether a call would pass without counting it). The Lua script
    ``transport/redis_store/lua/rate_hit.lua`` is this function, line for line.
    """
    new_tat = max(tat if tat is not None else now, now) + rate.interval
    allowed_at = new_tat - rate.period  # the burst tolerance: one whole period
    if allowed_at > now:
        return allowed_at - now, None
    return 0.0, None if peek else new_tat


@dataclass(frozen=True, slots=True)
class Window:
    """A calendar window a quota counts in: its label (part of the counter's key) and its end."""

    label: str
    ends_at: float


def quota_windows(now: float) -> tuple[Window, Window]:
    """The UTC day and the UTC month ``now`` falls in (epoch seconds)."""
    t = time.gmtime(now)
    day_start = now - (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec) - (now % 1)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    month_end = _utc_epoch(year, month)
    return (
        Window(f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", day_start + 86400),
        Window(f"{t.tm_year:04d}-{t.tm_mon:02d}", month_end),
    )


def _utc_epoch(year: int, month: int) -> float:
    """Midnight UTC on the first of ``month``."""
    return float(calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0)))
