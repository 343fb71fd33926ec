"""The web console in a headless Chromium, against ``avtomat up`` and the demo worker."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import sign_in
from tests.e2e.conftest import Orchestrator

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def call(orchestrator: Orchestrator, path: str, body: dict[str, Any] | None = None) -> Any:
    """The client API over plain HTTP: POST ``body`` when given, else GET."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{orchestrator.url}{path}",
        data=data,
        headers={**orchestrator.client_headers, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def submit(orchestrator: Orchestrator, blueprint: str, initial_data: dict[str, Any]) -> str:
    return str(call(orchestrator, f"/api/v1/jobs/{blueprint}", {"initial_data": initial_data})["job_id"])


def open_job(page: Page, orchestrator: Orchestrator, job_id: str) -> None:
    sign_in(page, orchestrator, f"#/job/{job_id}")
    expect(page.locator("#current-state")).to_be_visible()


def graph_mark(page: Page, state: str) -> str | None:
    node = page.locator("svg g.node", has=page.locator(f"title:text-is('{state}')"))
    return node.get_attribute("data-mark")


def test_sign_in_submit_a_demo_job_and_watch_it_finish(
    page: Page, orchestrator: Orchestrator, demo_worker: str
) -> None:
    page.goto(f"{orchestrator.url}/")  # redirects to /ui/, which asks for a token
    page.get_by_label("Client token").fill(orchestrator.client_token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('avtomat.token')") == orchestrator.client_token

    page.get_by_role("navigation").get_by_role("link", name="Submit").click()
    form = page.get_by_role("form", name="Submit demo")
    form.get_by_label("initial_data (JSON)").fill('{"name": "Ada"}')
    form.get_by_role("button", name="Submit demo").click()

    expect(page.locator(".status").first).to_have_text("finished")
    expect(page.locator("#current-state")).to_have_text("greeted")
    expect(page.get_by_label("result")).to_contain_text("Hello, Ada!")
    expect(page.locator("ol.timeline")).to_contain_text("task finished")
    expect(page.locator("svg g.node.end-ok")).to_have_count(1)
    assert graph_mark(page, "greeted") == "end-ok"
    expect(page.locator("svg g.edge.taken")).to_have_count(2)  # start -> greet -> greeted


def test_the_token_link_signs_in_and_leaves_the_address_bar(page: Page, orchestrator: Orchestrator) -> None:
    sign_in(page, orchestrator)
    assert "token" not in page.url
    assert page.url.endswith("/ui/#/jobs")


def test_the_pages_are_reached_by_keyboard(page: Page, orchestrator: Orchestrator) -> None:
    sign_in(page, orchestrator)
    for _ in range(20):  # from the top of the page, Tab to the Workers link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Workers":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Workers")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "main"  # focus moved to the new page


def test_a_wrong_token_is_refused_with_a_message(page: Page, orchestrator: Orchestrator) -> None:
    page.goto(f"{orchestrator.url}/ui/#token=not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("sign in again")
    expect(page.get_by_label("Client token")).to_be_visible()


def test_the_job_list_shows_a_new_job_within_two_seconds(page: Page, orchestrator: Orchestrator) -> None:
    sign_in(page, orchestrator)
    page.get_by_label("Status").select_option("waiting_for_human")
    job_id = submit(orchestrator, "console_approval", {})

    expect(page.get_by_role("link", name=job_id)).to_be_visible(timeout=2000)
    page.get_by_role("link", name=job_id).click()
    expect(page.get_by_role("heading", name=f"Job {job_id}")).to_be_visible()


def test_cancel_a_waiting_job_from_its_page(page: Page, orchestrator: Orchestrator) -> None:
    job_id = submit(orchestrator, "console_waiting", {})
    open_job(page, orchestrator, job_id)
    expect(page.locator(".status").first).to_have_text("waiting for worker")
    assert graph_mark(page, "start") == "current"

    page.get_by_role("button", name="Cancel job").click()

    expect(page.locator(".status").first).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    assert call(orchestrator, f"/api/v1/jobs/{job_id}")["status"] == "cancelled"


def test_approve_a_job_that_waits_for_a_human(page: Page, orchestrator: Orchestrator) -> None:
    job_id = submit(orchestrator, "console_approval", {})
    open_job(page, orchestrator, job_id)
    expect(page.get_by_text("Waiting for a decision: Ship it?")).to_be_visible()

    page.get_by_role("button", name="Decide: approve").click()

    expect(page.locator("#current-state")).to_have_text("shipped")
    expect(page.locator(".status").first).to_have_text("finished")
    assert graph_mark(page, "shipped") == "end-ok"
    assert call(orchestrator, f"/api/v1/jobs/{job_id}")["result"] == {"shipped": True}


def test_redrive_a_quarantined_job(page: Page, orchestrator: Orchestrator, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed"
    job_id = submit(orchestrator, "console_flaky", {"fixed": str(fixed)})
    sign_in(page, orchestrator, "#/quarantine")
    row = page.get_by_role("row", name=job_id)
    expect(row).to_contain_text("not fixed yet")

    fixed.touch()
    row.get_by_role("button", name="Redrive").click()

    expect(page.get_by_role("link", name=job_id)).to_have_count(0)  # it left the quarantine
    open_job(page, orchestrator, job_id)
    expect(page.locator(".status").first).to_have_text("finished")
    assert graph_mark(page, "fixed") == "end-ok"
    expect(page.locator("ol.timeline")).to_contain_text("job redriven")


def test_download_a_jobs_file_from_its_page(page: Page, orchestrator: Orchestrator) -> None:
    job_id = submit(orchestrator, "console_waiting", {})
    upload = urllib.request.Request(
        f"{orchestrator.url}/api/v1/jobs/{job_id}/files/content/out/report.txt",
        data=b"the report",
        headers=orchestrator.client_headers,
        method="PUT",
    )
    urllib.request.urlopen(upload, timeout=10).close()
    open_job(page, orchestrator, job_id)
    expect(page.get_by_label("state_history")).to_have_text("{}")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download out/report.txt").click()

    assert download.value.suggested_filename == "report.txt"
    assert Path(download.value.path()).read_bytes() == b"the report"


PAGES = ["jobs", "submit", "workers", "queues", "schedules", "webhooks", "quarantine"]


def test_every_page_labels_its_controls_and_fits_a_phone(
    browser: Browser, orchestrator: Orchestrator, demo_worker: str
) -> None:
    """At 390 px wide nothing scrolls sideways, every form control has a label; the screenshots
    of ``docs/console/`` are taken here when ``CONSOLE_SCREENSHOTS`` names a folder."""
    job_id = submit(orchestrator, "demo", {"name": "Grace"})
    waiting = submit(orchestrator, "console_approval", {})
    submit(orchestrator, "console_waiting", {})
    submit(orchestrator, "console_flaky", {"fixed": "/nowhere"})  # something to show on each page
    ready = {
        "job": (f"job/{job_id}", "svg g.node.end-ok"),
        "approval": (f"job/{waiting}", "text=Decide: approve"),
        **{name: (name, "main h1") for name in PAGES},
    }
    shots = Path(os.environ["CONSOLE_SCREENSHOTS"]) if os.environ.get("CONSOLE_SCREENSHOTS") else None
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        for stem, (route, shown) in ready.items():
            sign_in(page, orchestrator, f"#/{route}")
            page.locator(shown).first.wait_for()
            page.wait_for_load_state("networkidle")
            unlabelled = page.evaluate(
                "[...document.querySelectorAll('input,select,textarea')]"
                ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
            )
            assert unlabelled == [], f"{route}: controls without a label"
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{route} scrolls sideways at {width} px"
            if shots is not None and (width == 1280 or stem in ("jobs", "job")):
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=shots / f"{stem}-{width}.png", full_page=True)
        context.close()
