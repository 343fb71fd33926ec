"""The load generator: submit N jobs over the client HTTP API and follow them to the end.

Submissions go out either with at most ``concurrency`` requests in flight (as fast as the
orchestrator accepts them: saturation) or at a fixed ``rate``. Meanwhile one follower reads the
jobs back in submission order, one request at a time, moving on as soon as the oldest unread job
is over: about one GET per job, so reading back costs the orchestrator little. Latency is
submit (client wall clock, just before the POST) to the job's own ``finished_at`` (server wall
clock, same machine), so how often the follower polls does not change it. A view without a
``finished_at`` (upstream avtomatika's) ends the latency instead when the follower first read the
job as over (client wall clock): later than the real end by up to two poll intervals (5% of the
job's age, 10 to 100 ms) and one GET.

Workloads whose blueprint stores ``dispatched_at`` and whose worker returns ``started_at`` (both
wall clock, same machine) also give the dispatch-to-worker-start latency, read from the finished
job's view (``result``, or ``state_history`` where a view names it so).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

TERMINAL = {"finished", "failed", "quarantined", "cancelled"}
# Seconds the follower waits after reading a job that is not over yet: this share of the job's age,
# within these bounds. A fixed 10 ms made the reads of a job still running cost the orchestrator
# CPU in proportion to how long it ran, which showed up in its CPU per job.
POLL_SHARE = 0.05
POLL_INTERVAL = 0.01
POLL_INTERVAL_MAX = 0.1


@dataclass(frozen=True)
class Plan:
    path: str  # POST {url}/api/v1/jobs/{path}
    jobs: int
    concurrency: int = 32
    rate: float | None = None  # jobs per second; None: as fast as ``concurrency`` allows
    finish_within: float = 60.0  # seconds after the last submission before unfinished jobs are given up
    initial_data: dict[str, Any] = field(default_factory=dict)  # sent with every job, besides its "n"


@dataclass
class Outcome:
    """What one load run saw."""

    submitted: list[tuple[str, float]] = field(default_factory=list)  # (job id, wall time of submit)
    refused: int = 0  # submissions not answered 202
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_submit: float = 0.0
    last_submit: float = 0.0
    seen_over: dict[str, float] = field(default_factory=dict)  # job id -> wall time first read as over

    @classmethod
    def combined(cls, outcomes: list[Outcome]) -> Outcome:
        """One outcome of consecutive runs, as if they were one run."""
        whole = cls(first_submit=outcomes[0].first_submit, last_submit=outcomes[-1].last_submit)
        for outcome in outcomes:
            whole.submitted.extend(outcome.submitted)
            whole.refused += outcome.refused
            whole.views.update(outcome.views)
            whole.seen_over.update(outcome.seen_over)
        return whole

    def finished(self) -> list[tuple[str, float]]:
        """(job id, submit time) of every job that reached the end state named ``finished``."""
        return [(job_id, at) for job_id, at in self.submitted if _done(self.views.get(job_id))]

    def latencies(self) -> list[float]:
        """Submit to the end (``ended_at``) in seconds, per finished job."""
        return [self.ended_at(job_id) - at for job_id, at in self.finished()]

    def ended_at(self, job_id: str) -> float:
        """The view's ``finished_at`` if it has one, else when the follower first read the job as over."""
        finished_at = self.views[job_id].get("finished_at")
        return float(finished_at) if isinstance(finished_at, int | float) else self.seen_over[job_id]

    def start_latencies(self) -> list[float]:
        """Worker ``started_at`` - blueprint ``dispatched_at`` in seconds, per finished job that has both."""
        found = (_dispatch_to_start(self.views[job_id]) for job_id, _ in self.finished())
        return [latency for latency in found if latency is not None]

    def span(self) -> float:
        """First submit to the last end (``ended_at``): the wall time the finished jobs took."""
        ends = [self.ended_at(job_id) for job_id, _ in self.finished()]
        return max(ends) - self.first_submit if ends else 0.0


def _dispatch_to_start(view: dict[str, Any]) -> float | None:
    for key in ("result", "state_history"):
        data = view.get(key)
        if isinstance(data, dict):
            dispatched, started = data.get("dispatched_at"), data.get("started_at")
            if isinstance(dispatched, int | float) and isinstance(started, int | float):
                return float(started) - float(dispatched)
    return None


def _done(view: dict[str, Any] | None) -> bool:
    """Over in the end state named ``finished``. avtomatika's (compact) view has no ``current_state``
    and no ``finished_at``: there ``status`` alone says it, upstream setting ``finished`` only when
    the end state named ``finished`` ran."""
    if view is None or view.get("status") != "finished":
        return False
    if "current_state" not in view:  # avtomatika
        return True
    return view.get("current_state") == "finished" and isinstance(view.get("finished_at"), int | float)


async def run(url: str, client_token: str, plan: Plan) -> Outcome:
    """Submit ``plan.jobs`` jobs and follow them until all are over or the deadline passes."""
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=plan.concurrency + 4)
    headers = {"X-Client-Token": client_token}
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
        client = _Client(http, url, plan, outcome)
        async with asyncio.TaskGroup() as tg:
            submitting = tg.create_task(client.submit_all())
            tg.create_task(client.follow(submitting))
    return outcome


@dataclass
class _Client:
    http: aiohttp.ClientSession
    url: str
    plan: Plan
    outcome: Outcome
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit_all(self) -> None:
        gate = asyncio.Semaphore(self.plan.concurrency)
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.outcome.first_submit = time.time()

        async def one(i: int) -> None:
            if self.plan.rate is not None:
                await asyncio.sleep(max(0.0, start + i / self.plan.rate - loop.time()))
            async with gate:
                await self._submit(i)

        async with asyncio.TaskGroup() as tg:
            for i in range(self.plan.jobs):
                tg.create_task(one(i))
        self.outcome.last_submit = time.time()
        self.arrived.set()

    async def _submit(self, i: int) -> None:
        at = time.time()
        body = {"initial_data": {**self.plan.initial_data, "n": i}}
        async with self.http.post(f"{self.url}/api/v1/jobs/{self.plan.path}", json=body) as resp:
            if resp.status != 202:
                self.outcome.refused += 1
                return
            job_id = str((await resp.json())["job_id"])
        self.outcome.submitted.append((job_id, at))
        self.arrived.set()

    async def follow(self, submitting: asyncio.Task[None]) -> None:
        """Read jobs back in submission order until every one is over or the deadline passed,
        then read whatever is left once more.

        While the oldest open job (not yet read as over) still runs, reads alternate between it
        and the open jobs after it, in order, one read per poll interval as for the oldest alone:
        a job stuck at the head does not hold back seeing the later ones end, which matters where
        that moment is the latency's end (``Outcome.ended_at``)."""
        open_jobs: list[tuple[str, float]] = []  # (job id, submit time) not yet read as over, in submission order
        taken = 0  # how many of ``outcome.submitted`` have joined ``open_jobs``
        probe = 0  # position in ``open_jobs`` of the next read: 0, the oldest, or 1, the one after it
        while not (submitting.done() and taken == len(self.outcome.submitted) and not open_jobs):
            if submitting.done() and time.time() > self.outcome.last_submit + self.plan.finish_within:
                break
            open_jobs += self.outcome.submitted[taken:]
            taken = len(self.outcome.submitted)
            if not open_jobs:
                self.arrived.clear()
                await self.arrived.wait()
                continue
            position = probe if probe < len(open_jobs) else 0
            job_id, submitted_at = open_jobs[position]
            view = await self._read(job_id)
            if view.get("status") in TERMINAL:
                del open_jobs[position]
                probe = position  # the next open one, at once
            else:
                probe = 1 - position  # the oldest and the one after it by turns
                age = time.time() - submitted_at
                await asyncio.sleep(min(POLL_INTERVAL_MAX, max(POLL_INTERVAL, POLL_SHARE * age)))
        for job_id, _ in open_jobs + self.outcome.submitted[taken:]:
            await self._read(job_id)

    async def _read(self, job_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/api/v1/jobs/{job_id}") as resp:
            view = dict(await resp.json()) if resp.status == 200 else {"status": f"http {resp.status}"}
        if view.get("status") in TERMINAL:
            self.outcome.seen_over.setdefault(job_id, time.time())
        self.outcome.views[job_id] = view
        return view
