"""The console in a real headless Chromium (Python Playwright on the system's ``chromium``),
against ``avtomat up`` (the embedded runtime) and a distributed one (two nodes, a gateway), with the demo blueprint, the
blueprints of ``tests/browser/blueprints`` and the demo worker (the unmodified SDK).

Without a ``chromium`` executable the tests skip locally and fail under ``CI=true``
(``need_executable``); ``.ci/run`` installs it. ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import Orchestrator, launch
from tests.support.servers import need_executable
from transport.app.processes import Process

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DEMO_WORKER = ROOT / "blueprints" / "workers" / "demo_worker.py"


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def orchestrator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    """``avtomat up`` (embedded), or two nodes and a gateway on RabbitMQ and Redis (distributed)."""
    settings = {"BLUEPRINTS_DIR": str(HERE / "blueprints"), "JOB_MAX_RETRIES": "1"}
    yield from launch(request.param, tmp_path_factory, **settings)


@pytest.fixture(scope="module")
def demo_worker(orchestrator: Orchestrator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo worker (skill ``greet``), as its docstring says to run it."""
    env = {
        **os.environ,
        "WORKER_ID": "console-demo-worker",
        "WORKER_TOKEN": orchestrator.worker_token,
        "ORCHESTRATOR_URL": orchestrator.url,
        "ORCHESTRATOR_SECRET_KEY": orchestrator.secret,
        "HEARTBEAT_INTERVAL": "0.5",
        "TASK_POLL_TIMEOUT": "2",
        "IDLE_POLL_DELAY": "0.05",
    }
    log = tmp_path_factory.mktemp("worker") / "demo-worker.log"
    with Process([sys.executable, str(DEMO_WORKER)], env, log, cwd=ROOT):
        yield "console-demo-worker"


@pytest.fixture(scope="module")
def browser(orchestrator: Orchestrator) -> Iterator[Browser]:
    """Started after the orchestrator and stopped before it: Playwright's sync API keeps an event
    loop running in this thread, and the distributed runtime's set-up and clean-up run their own."""
    need_executable("chromium", "apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], f"the console raised in the browser: {errors}"


def sign_in(page: Page, orchestrator: Orchestrator, where: str = "#/jobs") -> None:
    """Open the console signed in by the ``#token=`` link, then go to ``where``."""
    page.goto(f"{orchestrator.url}/ui/#token={orchestrator.client_token}")
    page.get_by_role("heading", name="Jobs").wait_for()
    if where != "#/jobs":
        page.goto(f"{orchestrator.url}/ui/{where}")
