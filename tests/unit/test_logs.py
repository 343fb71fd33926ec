"""Log lines (``transport.app.logs``): one JSON object a line in production, text in development,
timestamps in ``TZ``, and the job ids bound for the code handling a job on every line it logs."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from actors import log_context
from engine import ConfigError
from transport.app.logs import configure_logging
from transport.app.settings import Settings


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


@pytest.mark.usefixtures("restore_logging")
async def test_json_lines_carry_the_bound_ids_the_extra_fields_and_a_zoned_timestamp(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", "json", "Asia/Tokyo")
    log = logging.getLogger("avtomat.test")

    async def one_job(job_id: str) -> None:
        log_context.bind(job_id=job_id, blueprint="bp", state="start", trace_id=None)
        await asyncio.sleep(0)
        log.info("job stepped", extra={"from_state": "start"})

    await asyncio.gather(one_job("j1"), one_job("j2"))  # each task its own context
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("failed")

    records = [json.loads(line) for line in lines(capsys)]
    assert len(records) == 3  # one line per event, the traceback inside its line
    assert {(r["job_id"], r["blueprint"], r["state"], r["from_state"]) for r in records[:2]} == {
        ("j1", "bp", "start", "start"),
        ("j2", "bp", "start", "start"),
    }
    assert "trace_id" not in records[0]  # None is not bound
    assert records[0]["event"] == "job stepped" and records[0]["level"] == "info"
    assert records[0]["logger"] == "avtomat.test"
    assert records[0]["timestamp"].endswith("+09:00")
    assert "job_id" not in records[2]  # not bound in this context
    assert "RuntimeError: boom" in records[2]["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("avtomat.test").info("job stepped", extra={"task_id": "t1"})

    [line] = lines(capsys)
    assert "job stepped" in line and "task_id=t1" in line


def test_json_is_the_default_in_production_and_text_in_development() -> None:
    production = {"ENVIRONMENT": "production", "WEBHOOK_SECRET": "x" * 32}
    production |= {n: "t" for n in ("CLIENT_TOKEN", "GLOBAL_WORKER_TOKEN", "ORCHESTRATOR_SECRET_KEY")}
    assert Settings.from_env(production).log_format == "json"
    assert Settings.from_env({**production, "LOG_FORMAT": "text"}).log_format == "text"
    assert Settings.from_env({}).log_format == "text"


def test_tracing_settings_are_checked() -> None:
    assert Settings.from_env({}).otel_endpoint == ""
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}).otel_endpoint
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
    assert Settings.from_env({"OTEL_SERVICE_NAME": "orchestrator"}).otel_service_name == "orchestrator"
    assert Settings.from_env({"OTEL_SERVICE_NAME": " "}).otel_service_name == "avtomat"  # blank: the default
