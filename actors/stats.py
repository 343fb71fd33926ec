"""What a process counts about its own work, for the metrics endpoint (ADR 0020).

Plain integers and fixed-bucket histograms, bumped where the work happens: an increment of a
``Counter`` entry, or a ``bisect`` and two additions for a histogram. No lock (one event loop
owns them), no metrics library in the core: ``transport.metrics`` reads them when Prometheus
scrapes and turns them into its exposition. They count from the process's start and never
decrease (Prometheus counters); a restart begins again at zero, which ``rate()`` handles.

Each process (gateway, node, or both with ``avtomat up``) counts what it did itself: a job's
creation where it was stored, its end on the node whose job actor committed it. Prometheus sums
the processes. A message applied twice (a redelivery after a crash between commit and ack) is
counted where its commit happened, once: the second application commits nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

# Seconds. Dispatch→start and run times of tasks span milliseconds (a hot worker polling) to
# minutes; whole jobs likewise. The last bucket is +Inf (implicit).
TASK_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# Round trips to RabbitMQ and Redis: sub-millisecond on a LAN to a second under trouble.
IO_BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


@dataclass(slots=True)
class Histogram:
    """Observations counted into buckets (``counts[i]``: values <= ``bounds[i]``, not cumulative;
    the last entry is above every bound) with their sum, as Prometheus's ``le`` buckets need."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= it)`` per bucket, the last bound being infinity."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


class Histograms(dict[str, Histogram]):
    """One histogram per label value (a skill, a blueprint), made when first observed."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__()
        self.bounds = bounds

    def observe(self, label: str, value: float) -> None:
        histogram = self.get(label)
        if histogram is None:
            histogram = self[label] = Histogram(self.bounds)
        histogram.observe(value)


@dataclass(slots=True)
class Stats:
    """Everything the actors of one process count. One instance per process, shared by its
    node and gateway (``transport.app.wiring``); a test may give each actor its own."""

    jobs_created: Counter[str] = field(default_factory=Counter)  # blueprint
    jobs_ended: Counter[tuple[str, str]] = field(default_factory=Counter)  # (blueprint, status)
    transitions: Counter[str] = field(default_factory=Counter)  # blueprint
    dispatch_to_start: Histograms = field(default_factory=lambda: Histograms(TASK_BUCKETS))  # skill
    task_run: Histograms = field(default_factory=lambda: Histograms(TASK_BUCKETS))  # skill
    job_duration: Histograms = field(default_factory=lambda: Histograms(TASK_BUCKETS))  # blueprint
    routed: Counter[str] = field(default_factory=Counter)  # hot, cold, unreserved
    skills: set[str] = field(default_factory=set)  # routed here: their queue depths are reported
    scheduler_fires: Counter[str] = field(default_factory=Counter)  # schedule name
    webhooks: Counter[str] = field(default_factory=Counter)  # delivered, failed, dead
    sts_tokens: Counter[str] = field(default_factory=Counter)  # STS tokens issued, by grant: token, refresh_token
