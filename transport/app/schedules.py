"""``schedules.toml`` (``SCHEDULES_CONFIG_PATH``): the scheduler's schedules, read and checked at
start-up.

The seed's format, one ``[name]`` table per schedule: ``blueprint``, ``input_data`` (a table,
default empty) and exactly one rule: ``interval_seconds``; ``daily_at = "HH:MM"``;
``weekly_days = ["mon", ...]`` with ``time = "HH:MM"``; ``monthly_dates = [1, 15]`` with
``time``; or ``cron = "*/5 * * * *"`` (5 fields). Optional: ``dispatch_timeout``,
``result_timeout``, ``timezone`` (IANA name, default ``TZ``) and ``catch_up`` (``"skip"``, the
default, or ``"once"``), and upstream's ``security`` (an rxon ``SecurityContext``) and ``metadata``
(tables), which reach the tasks of the schedule's jobs as a job body's do. Anything else stops
start-up: ``ConfigError`` naming ``SCHEDULES_CONFIG_PATH``, the file, the table and the key.

Scheduled jobs belong to the holder of ``CLIENT_TOKEN`` (they are theirs to read, cancel and
redrive) and are capped by ``MAX_TRANSITIONS_PER_JOB``.
"""

from __future__ import annotations

import logging
import math
import re
import time
import tomllib
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cronsim import CronSimError
from rxon.models import SecurityContext

from engine.errors import ConfigError
from engine.registry import BlueprintRegistry
from engine.schedules import Calendar, CatchUp, Every, Rule, Schedule
from transport.app.settings import Settings
from transport.gateway.auth import client_id_of

log = logging.getLogger(__name__)

VARIABLE = "SCHEDULES_CONFIG_PATH"
RULES = ("interval_seconds", "daily_at", "weekly_days", "monthly_dates", "cron")
OPTIONAL = ("input_data", "time", "timezone", "catch_up", "dispatch_timeout", "result_timeout", "security", "metadata")
WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def load_schedules(settings: Settings, registry: BlueprintRegistry) -> tuple[Schedule, ...]:
    """The schedules of ``settings.schedules_config_path`` (none when unset), in file order."""
    path = settings.schedules_config_path
    if not path:
        return ()
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(VARIABLE, f"{path}: cannot be read: {exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(VARIABLE, f"{path}: is not valid TOML: {exc}") from None
    schedules = tuple(_Table(path, name, table).schedule(settings, registry) for name, table in doc.items())
    if schedules and not settings.client_token:
        raise ConfigError(
            "CLIENT_TOKEN", f"must be set when {VARIABLE} names schedules: scheduled jobs belong to its holder"
        )
    if schedules and settings.distributed and "CLIENT_TOKEN" in settings.generated:
        raise ConfigError(
            "CLIENT_TOKEN", f"must be set when {VARIABLE} names schedules: scheduled jobs belong to its holder"
        )
    return schedules


class _Table:
    """One ``[name]`` table being read; every error names the file, the table and the key."""

    def __init__(self, path: str, name: str, table: Any) -> None:
        self.path, self.name = path, name
        if not isinstance(table, dict):
            raise ConfigError(VARIABLE, f"{path}: [{name}] must be a table, got {table!r}")
        self.table: dict[str, Any] = table

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(VARIABLE, f"{self.path}: [{self.name}] {key}: {problem}")

    def schedule(self, settings: Settings, registry: BlueprintRegistry) -> Schedule:
        self._check_keys()
        blueprint = self.table.get("blueprint")
        if not isinstance(blueprint, str) or registry.get(blueprint) is None:
            known = ", ".join(sorted(bp.name for bp in registry)) or "none"
            raise self.error("blueprint", f"must name a loaded blueprint (loaded: {known}), got {blueprint!r}")
        return Schedule(
            name=self.name,
            blueprint=blueprint,
            rule=self._rule(settings.timezone),
            input_data=self._input_data(),
            catch_up=self._catch_up(),
            dispatch_timeout=self._seconds("dispatch_timeout"),
            result_timeout=self._seconds("result_timeout"),
            security=self._security(),
            metadata=self._table("metadata"),
            client_id=client_id_of(settings.client_token),
            max_transitions=settings.max_transitions_per_job,
        )

    def _check_keys(self) -> None:
        for key in self.table:
            if key != "blueprint" and key not in RULES and key not in OPTIONAL:
                raise self.error(key, f"unknown key (known: blueprint, {', '.join(RULES + OPTIONAL)})")
        rules = [key for key in RULES if key in self.table]
        if len(rules) != 1:
            given = " and ".join(rules) or "none"
            raise self.error("/".join(RULES), f"exactly one of them must be set, got {given}")
        if "time" in self.table and rules[0] not in ("weekly_days", "monthly_dates"):
            raise self.error("time", f"goes with weekly_days or monthly_dates, not {rules[0]}")

    def _rule(self, default_zone: str) -> Rule:
        if "interval_seconds" in self.table:
            seconds = self.table["interval_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                raise self.error("interval_seconds", f"must be a whole number of seconds, at least 1, got {seconds!r}")
            return Every(seconds)
        zone = self._zone(default_zone)
        if "daily_at" in self.table:
            hour, minute = self._time("daily_at")
            return self._calendar(f"{minute} {hour} * * *", zone, f"daily_at {hour:02}:{minute:02}")
        if "weekly_days" in self.table:
            days = self._weekdays()
            hour, minute = self._time("time")
            source = f"weekly_days {' '.join(days)} at {hour:02}:{minute:02}"
            return self._calendar(f"{minute} {hour} * * {','.join(str(WEEKDAYS[d]) for d in days)}", zone, source)
        if "monthly_dates" in self.table:
            dates = self._dates()
            hour, minute = self._time("time")
            source = f"monthly_dates {' '.join(map(str, dates))} at {hour:02}:{minute:02}"
            return self._calendar(f"{minute} {hour} {','.join(map(str, dates))} * *", zone, source)
        cron = self.table["cron"]
        if not isinstance(cron, str) or len(cron.split()) != 5:
            raise self.error("cron", f"must be 5 fields (minute hour day month weekday), got {cron!r}")
        return self._calendar(" ".join(cron.split()), zone, f"cron {' '.join(cron.split())}")

    def _calendar(self, cron: str, zone: ZoneInfo, source: str) -> Calendar:
        """The rule, checked: it must parse and name a time within the next 50 years. ``source``
        starts with the key it came from."""
        key = source.split(maxsplit=1)[0]
        calendar = Calendar(cron, zone, source)
        try:
            calendar.next_after(time.time())
        except (CronSimError, ValueError) as exc:
            raise self.error(key, f"{exc} (in {source!r})") from None
        return calendar

    def _time(self, key: str) -> tuple[int, int]:
        value = self.table.get(key)
        match = _TIME.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.error(key, f'must be "HH:MM" (24-hour clock), got {value!r}')
        return int(match[1]), int(match[2])

    def _weekdays(self) -> list[str]:
        days = self.table["weekly_days"]
        if not isinstance(days, list) or not days or not all(isinstance(d, str) for d in days):
            raise self.error("weekly_days", f"must be a non-empty list of day names (mon ... sun), got {days!r}")
        wrong = [d for d in days if d.lower() not in WEEKDAYS]
        if wrong:
            raise self.error("weekly_days", f"{wrong[0]!r} is not a day (use {', '.join(WEEKDAYS)})")
        return sorted({d.lower() for d in days}, key=lambda d: (WEEKDAYS[d] + 6) % 7)

    def _dates(self) -> list[int]:
        dates = self.table["monthly_dates"]
        if (
            not isinstance(dates, list)
            or not dates
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 31 for d in dates)
        ):
            raise self.error("monthly_dates", f"must be a non-empty list of days of the month (1-31), got {dates!r}")
        return sorted(set(dates))

    def _zone(self, default: str) -> ZoneInfo:
        name = self.table.get("timezone", default)
        if isinstance(name, str):
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        raise self.error("timezone", f"must be an IANA time zone name (Europe/Berlin), got {name!r}")

    def _catch_up(self) -> CatchUp:
        value = self.table.get("catch_up", "skip")
        if value in ("skip", "once"):
            return cast("CatchUp", value)
        raise self.error("catch_up", f'must be "skip" or "once", got {value!r}')

    def _seconds(self, key: str) -> float | None:
        value = self.table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise self.error(key, f"must be a positive number of seconds, got {value!r}")
        return float(value)

    def _input_data(self) -> dict[str, Any]:
        return self._table("input_data") or {}

    def _table(self, key: str) -> dict[str, Any] | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {value!r}")
        bad = _not_json(value)
        if bad is not None:
            raise self.error(key, f"holds {bad} (a date or time): JSON carries none")
        return value

    def _security(self) -> dict[str, Any] | None:
        value = self._table("security")
        if value is not None:
            try:
                msgspec.convert(value, SecurityContext)
            except msgspec.ValidationError as exc:
                raise self.error("security", f"must be a SecurityContext: {exc}") from None
        return value


def _not_json(value: Any) -> Any:
    """The first value under ``value`` JSON cannot carry (a TOML date or time), else None."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            bad = _not_json(item)
            if bad is not None:
                return bad
        return None
    return None if isinstance(value, str | int | float | bool) else value
