"""Schemathesis over every operation of ``/_public/openapi.json``, against both runtimes (``avtomat
up``, and a gateway and a node on RabbitMQ and Redis) on a free port, with valid tokens, wrong
tokens and none (issue 14, item 6).

Every answer must be below 500, and every 4xx a JSON object ``{"error": "..."}``. Generation is
derandomized (the same cases every run) and bounded (``EXAMPLES``), so the run takes well under a
minute on two cores; the count of cases run is printed (``-s``) and asserted to be real.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rxon.models import SkillInfo, WorkerRegistration
from rxon.utils import json_dumps
from schemathesis import APIOperation, GenerationMode
from schemathesis.core.result import Err

from tests.e2e.conftest import Orchestrator, launch

pytestmark = pytest.mark.e2e

# Examples per operation: (generation mode, token mode) -> how many.
EXAMPLES = {
    (GenerationMode.POSITIVE, "valid"): 20,
    (GenerationMode.NEGATIVE, "valid"): 12,
    (GenerationMode.POSITIVE, "wrong"): 5,
    (GenerationMode.POSITIVE, "none"): 3,
    (GenerationMode.POSITIVE, "real ids"): 8,  # valid tokens, and a real job id and worker id in paths
}
WORKER_ID = "fuzz-worker"
TOKEN_HEADERS = ("x-client-token", "x-worker-token")


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    nothing_to_negate: int = 0


@dataclass(frozen=True)
class Target:
    orchestrator: Orchestrator
    job_id: str  # a job that finished (its event stream, if served, ends at once)


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    for orchestrator in launch(
        request.param,
        tmp_path_factory,
        WORKER_POLL_TIMEOUT_SECONDS="0.2",  # a long poll answers 204 at once
        WEBHOOK_ALLOW_PRIVATE="true",  # no DNS look-up of generated host names (none resolve here)
        MAX_REQUEST_BODY_BYTES="65536",
    ):
        yield Target(orchestrator, prepare(orchestrator))


def prepare(orchestrator: Orchestrator) -> str:
    """Register ``WORKER_ID`` and run a job to its end: real ids for the paths."""
    worker = {"X-Worker-Token": orchestrator.worker_token, "Content-Type": "application/json"}
    body = json_dumps(WorkerRegistration(worker_id=WORKER_ID, supported_skills=[SkillInfo(name="echo")]))
    assert requests.post(f"{orchestrator.url}/_worker/workers/register", data=body, headers=worker, timeout=10).ok
    job = {"initial_data": {"side": "right"}}  # needs no worker
    answer = requests.post(f"{orchestrator.url}/api/v1/jobs/branch", json=job, headers=orchestrator.client_headers)
    assert answer.status_code == 202, answer.text
    job_id = str(answer.json()["job_id"])
    url, deadline = f"{orchestrator.url}/api/v1/jobs/{job_id}", time.monotonic() + 20
    while requests.get(url, headers=orchestrator.client_headers, timeout=10).json()["status"] != "finished":
        assert time.monotonic() < deadline, f"job {job_id} did not finish"
        time.sleep(0.05)
    return job_id


def headers_for(orchestrator: Orchestrator, tokens: str) -> dict[str, str]:
    if tokens in ("valid", "real ids"):
        return {"X-Client-Token": orchestrator.client_token, "X-Worker-Token": orchestrator.worker_token}
    if tokens == "wrong":
        return {"X-Client-Token": orchestrator.worker_token, "X-Worker-Token": orchestrator.client_token}
    return {}


def judge(tally: Tally, where: str, response: Any) -> None:
    """Count one answer; note it if it is a 5xx or a 4xx that is not a JSON error object."""
    status = response.status_code
    tally.cases += 1
    tally.statuses[status] += 1
    if status >= 500:
        tally.problems.append(f"{where}: {status} {response.text[:200]}")
    elif status >= 400:
        kind = response.headers.get("content-type", response.headers.get("Content-Type", [""]))
        kind = kind[0] if isinstance(kind, list) else kind
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not kind.startswith("application/json") or not isinstance(body, dict) or "error" not in body:
            tally.problems.append(f"{where}: {status} not a JSON error ({kind}): {response.content[:200]!r}")


def fuzz(target: Target, mode: GenerationMode, tokens: str, examples: int, tally: Tally) -> None:
    """Every operation of the served document, ``examples`` cases each."""
    schema = schemathesis.openapi.from_url(f"{target.orchestrator.url}/_public/openapi.json")
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        paths = {"job_id": target.job_id, "worker_id": WORKER_ID} if tokens == "real ids" else {}
        paths = {name: value for name, value in paths.items() if f"{{{name}}}" in operation.path}
        if tokens == "real ids" and not paths:
            continue
        try:
            fuzz_operation(target.orchestrator, operation, mode, tokens, examples, tally, paths)
        except Unsatisfiable:  # nothing of it can be made invalid (no parameters, no body)
            if mode is not GenerationMode.NEGATIVE:
                raise
            tally.nothing_to_negate += 1


def fuzz_operation(
    orchestrator: Orchestrator,
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    tokens: str,
    examples: int,
    tally: Tally,
    paths: dict[str, str],
) -> None:
    where = f"{operation.method.upper()} {operation.path} [{mode.value}, {tokens} tokens]"
    extra = headers_for(orchestrator, tokens)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode, path_parameters=paths or None))
        generated = {k: v for k, v in case.headers.items() if k.lower() not in TOKEN_HEADERS}
        case.headers.clear()  # the tokens are the mode's, not generated ones
        case.headers.update({**generated, **extra})
        judge(tally, where, case.call(base_url=orchestrator.url, timeout=10))

    run()


def test_no_operation_answers_5xx_and_every_4xx_is_json(fuzzed: Target) -> None:
    tally = Tally()
    for (mode, tokens), examples in EXAMPLES.items():
        fuzz(fuzzed, mode, tokens, examples, tally)
    print(f"\nschemathesis: {tally.cases} cases, statuses {dict(sorted(tally.statuses.items()))}")
    assert not tally.problems, "\n".join(tally.problems)
    assert tally.cases > 500
    assert sum(n for s, n in tally.statuses.items() if s >= 500) == 0
