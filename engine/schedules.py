"""Schedules: when each fires, and which fires are due (pure: the caller passes the time).

A fire is an instant in whole epoch seconds. Two rules decide the instants:

- ``Every(seconds)``: the whole multiples of ``seconds`` since the Unix epoch, so every node
  computes the same instants whenever it starts (``interval_seconds = 60`` fires at every UTC
  minute); time zones do not apply.
- ``Calendar(cron, zone)``: a 5-field cron expression read in ``zone`` (``daily_at``,
  ``weekly_days``, ``monthly_dates`` become one). Daylight saving follows Debian's cron
  (``cronsim``): for an expression with a fixed minute and hour, a local time the change skips
  fires once, at the first valid instant after the gap (02:30 on a spring-forward night fires at
  03:00), and a local time the change repeats fires once, on its first pass; expressions whose
  minute or hour field starts with ``*`` (``*/5 * * * *``) follow real time through the change.

``due_fires`` says which fires to make now, given the last one made: each of them derives the
id of its job (``fire_job_id``), so making a fire twice creates one job.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cronsim import CronSim

from engine import defaults

CatchUp = Literal["skip", "once"]
_NAMESPACE = uuid.UUID("6d9c3f0e-5a7b-4e52-9a0e-7c1f4b8d2e61")  # of the scheduled jobs' ids
_LOOKAHEAD = 128  # cron results to pass over at most (a repeated hour holds up to 60 minutes' worth)


@dataclass(frozen=True, slots=True)
class Every:
    """Every ``seconds`` (a positive whole number), at the multiples of it since the epoch."""

    seconds: int

    def next_after(self, t: float) -> int:
        return (math.floor(t) // self.seconds + 1) * self.seconds

    def last_until(self, t: float) -> int | None:
        return math.floor(t) // self.seconds * self.seconds

    def describe(self) -> str:
        return f"interval_seconds {self.seconds}"


@dataclass(frozen=True, slots=True)
class Calendar:
    """The instants a 5-field cron expression names in ``zone``; ``source`` is how the table
    said it (``daily_at 02:00``), for people."""

    cron: str
    zone: ZoneInfo
    source: str

    def next_after(self, t: float) -> int:
        """The first fire strictly after ``t``; ``ValueError`` if none within 50 years."""
        start = datetime.fromtimestamp(math.floor(t), self.zone)
        # On a fall-back night cron's local clock may name an instant before ``start`` (the first
        # pass of a repeated hour while ``start`` is in the second): skip those.
        for at in _instants(CronSim(self.cron, start)):
            if at > t:
                return at
        raise ValueError(f"cron {self.cron!r} in {self.zone.key} names no time after {start.isoformat()}")

    def last_until(self, t: float) -> int | None:
        """The last fire at or before ``t``; None if none within 50 years."""
        start = datetime.fromtimestamp(math.floor(t) + 1, self.zone)
        found = next((at for at in _instants(CronSim(self.cron, start, reverse=True)) if at <= t), None)
        if found is None:
            return None
        # Read backwards, cron's local clock can pass over the first pass of a repeated hour (from
        # 01:10 of the second pass, 01:30 of the first lies behind): walk forward from there.
        while (later := self.next_after(found)) <= t:
            found = later
        return found

    def describe(self) -> str:
        return self.source


def _instants(it: CronSim) -> Iterator[int]:
    """The instants ``it`` names, at most ``_LOOKAHEAD`` of them (lazily)."""
    for _, moment in zip(range(_LOOKAHEAD), it, strict=False):
        yield int(moment.timestamp())


Rule = Every | Calendar


@dataclass(frozen=True, slots=True)
class Schedule:
    """One ``[name]`` table of ``schedules.toml``, checked, with what its jobs are made of:
    ``client_id`` owns them, ``max_transitions`` caps them, as for a job a client creates."""

    name: str
    blueprint: str
    rule: Rule
    input_data: Mapping[str, Any] = field(default_factory=dict)
    catch_up: CatchUp = "skip"
    dispatch_timeout: float | None = None
    result_timeout: float | None = None
    security: Mapping[str, Any] | None = None  # given to the jobs, and by them to their tasks
    metadata: Mapping[str, Any] | None = None
    client_id: str = ""
    max_transitions: int = defaults.MAX_TRANSITIONS_PER_JOB

    @property
    def timezone(self) -> str:
        return self.rule.zone.key if isinstance(self.rule, Calendar) else "UTC"


def fire_job_id(schedule: str, at: int) -> str:
    """The id of the job of ``schedule``'s fire at ``at``: the same on every node, every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{schedule}\n{at}"))


def due_fires(
    schedule: Schedule, after: float, now: float, grace: float = defaults.SCHEDULE_GRACE_SECONDS
) -> list[int]:
    """The fires to make at ``now``, oldest first, when every fire up to ``after`` was made.

    - Every fire in ``(after, now]`` that is at most ``grace`` seconds late: a leader that took
      over (or a store that came back) makes the fires it was late for.
    - Older ones were missed (no leader ran): with ``catch_up = "once"`` the latest of them is
      made first, with ``"skip"`` none.
    """
    rule, fires = schedule.rule, []
    if schedule.catch_up == "once":
        missed = rule.last_until(now - grace)
        if missed is not None and missed > after:
            fires.append(missed)
    t = max(after, now - grace)
    while (at := rule.next_after(t)) <= now:
        fires.append(at)
        t = at
    return fires


def missed_since(schedule: Schedule, after: float, now: float, grace: float = defaults.SCHEDULE_GRACE_SECONDS) -> bool:
    """Whether a fire after ``after`` is more than ``grace`` seconds late at ``now``."""
    missed = schedule.rule.last_until(now - grace)
    return missed is not None and missed > after


def upcoming(schedule: Schedule, last: int | None, now: float, grace: float = defaults.SCHEDULE_GRACE_SECONDS) -> int:
    """The next fire the scheduler makes (a catch-up aside): the first after ``last`` that is not
    missed yet, or the first after ``now`` for a schedule that never fired."""
    return schedule.rule.next_after(now if last is None else max(last, now - grace))
