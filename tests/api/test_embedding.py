"""The embedding API (``transport.app.embedding``): ``Config`` over the environment, the storage
choosing the runtime, and ``OrchestratorEngine.start()``/``stop()`` serving a real gateway on the
embedded runtime, in this process. The seed's own program runs in tests/e2e/test_seed_quickstart.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from engine import ActionFactory, BlueprintError, ConfigError, StateMachineBlueprint
from tests.support.waiting import eventually
from transport.app.embedding import Config, MemoryStorage, OrchestratorEngine, RedisStorage

TOKEN = "client-embedded"


def blueprint(seen: list[str]) -> StateMachineBlueprint:
    bp = StateMachineBlueprint(name="embedded", api_version="v1", api_endpoint="/jobs/embedded")

    @bp.handler_for("start", is_start=True)
    async def start(job_id: str, actions: ActionFactory) -> None:
        seen.append(job_id)
        actions.transition_to("end")

    @bp.handler_for("end", is_end=True)
    async def end() -> None: ...

    return bp


def engine_on_a_free_port(seen: list[str]) -> OrchestratorEngine:
    config = Config({})
    config.API_PORT = 0
    config.CLIENT_TOKEN = TOKEN
    engine = OrchestratorEngine(MemoryStorage(), config)
    engine.register_blueprint(blueprint(seen))
    return engine


async def run_one_job(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"X-Client-Token": TOKEN}) as http:
        async with http.post(f"{url}/api/v1/jobs/embedded", json={"initial_data": {}}) as resp:
            assert resp.status == 202, await resp.text()
            job_id = (await resp.json())["job_id"]
        state: dict[str, Any] = {}

        async def finished() -> bool:
            async with http.get(f"{url}/api/v1/jobs/{job_id}") as resp:
                state.update(await resp.json())
            return bool(state["status"] == "finished")

        await eventually(finished, "the job to finish")
    return state


async def test_start_serves_the_blueprints_and_stop_is_idempotent() -> None:
    seen: list[str] = []
    engine = engine_on_a_free_port(seen)
    await engine.start()
    url = engine.url
    assert url is not None
    assert engine.settings is not None
    assert not engine.settings.distributed
    state = await run_one_job(url)
    assert seen == [state["job_id"]]

    await engine.stop()
    await engine.stop()  # a second stop does nothing

    assert engine.url is None
    assert engine.settings is None
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{url}/_public/status")

    await engine.start()  # and the engine starts again
    try:
        assert engine.url is not None
        await run_one_job(engine.url)
    finally:
        await engine.stop()
    assert len(seen) == 2


async def test_starting_twice_and_registering_once_started_are_refused() -> None:
    engine = engine_on_a_free_port([])
    await engine.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            await engine.start()
        with pytest.raises(RuntimeError, match="before start"):
            engine.register_blueprint(StateMachineBlueprint("late"))
    finally:
        await engine.stop()


def test_a_blueprint_is_validated_when_registered() -> None:
    engine = engine_on_a_free_port([])
    with pytest.raises(BlueprintError, match="already registered"):
        engine.register_blueprint(blueprint([]))


def test_config_reads_the_environment_and_code_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "9000")
    monkeypatch.setenv("LOG_FORMAT", "json")
    config = Config()
    monkeypatch.setenv("API_PORT", "9001")  # read once, when the Config was made

    assert config.API_PORT == "9000"
    config.API_PORT = 9100
    config.CLIENT_TOKEN = "my-secret-client-token"
    config.LOG_FORMAT = None  # unset: avtomat's default applies
    config.BLUEPRINTS_DIR = Path(__file__).parent  # paths as strings
    settings = OrchestratorEngine(MemoryStorage(), config).build_settings()

    assert (settings.api_port, settings.client_token, settings.log_format) == (9100, "my-secret-client-token", "text")
    assert settings.blueprints_dir == str(Path(__file__).parent)


def test_config_values_are_typed_and_names_upper_case() -> None:
    config = Config({})
    config.RATE_LIMITING_ENABLED = False
    config.RETRY_BACKOFF_BASE_SECONDS = 0.25

    assert config.values() == {"RATE_LIMITING_ENABLED": "false", "RETRY_BACKOFF_BASE_SECONDS": "0.25"}
    assert config.API_HOST is None
    with pytest.raises(AttributeError):
        config.api_port = 1
    with pytest.raises(AttributeError):
        _ = config.api_port
    with pytest.raises(TypeError, match="API_PORT"):
        config.API_PORT = [8080]


async def test_a_bad_value_stops_start_naming_the_variable() -> None:
    engine = engine_on_a_free_port([])
    engine.config.API_PORT = "eighty"
    with pytest.raises(ConfigError, match=r"API_PORT.*eighty"):
        await engine.start()
    assert engine.url is None


def test_memory_storage_runs_embedded_whatever_the_transport_urls(caplog: pytest.LogCaptureFixture) -> None:
    config = Config({"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/"})

    settings = OrchestratorEngine(MemoryStorage(), config).build_settings()

    assert not settings.distributed
    assert "does not use RABBITMQ_URL" in caplog.text


def test_redis_storage_needs_rabbitmq_url() -> None:
    engine = OrchestratorEngine(RedisStorage("redis://127.0.0.1:6379/0"), Config({}))
    with pytest.raises(ConfigError, match="RABBITMQ_URL") as caught:
        engine.build_settings()
    assert "RedisStorage" in str(caught.value)


def test_redis_storage_needs_the_shared_secrets() -> None:
    config = Config({"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/", "CLIENT_TOKEN": "c"})
    engine = OrchestratorEngine(RedisStorage("redis://127.0.0.1:6379/0"), config)
    with pytest.raises(ConfigError, match="GLOBAL_WORKER_TOKEN"):
        engine.build_settings()


async def test_redis_storage_takes_a_url_or_a_client() -> None:
    assert RedisStorage("redis://h:1/2").url == "redis://h:1/2"
    clients = {
        "redis://localhost:6379/0": Redis(),
        "redis://:p%40ss@cache:6380/3": Redis(host="cache", port=6380, db=3, password="p@ss"),
        "redis://me:pw@cache:6379/0": Redis(host="cache", username="me", password="pw"),
        "rediss://cache:6379/1": Redis(host="cache", db=1, ssl=True),
        "unix:///run/redis.sock?db=2": Redis(unix_socket_path="/run/redis.sock", db=2),
    }
    try:
        assert {url: RedisStorage(client).url for url, client in clients.items()} == {url: url for url in clients}
    finally:
        for client in clients.values():
            await client.aclose()


async def test_blueprints_dir_is_loaded_at_each_start(tmp_path: Path) -> None:
    (tmp_path / "from_dir.py").write_text(
        "from engine import StateMachineBlueprint\n"
        "bp = StateMachineBlueprint('from_dir')\n"
        "@bp.handler_for('start', is_start=True)\n"
        "async def start(actions):\n"
        "    actions.transition_to('end')\n"
        "@bp.handler_for('end', is_end=True)\n"
        "async def end(): ...\n"
    )
    engine = engine_on_a_free_port([])
    engine.config.BLUEPRINTS_DIR = tmp_path
    for _ in range(2):  # a restart loads the folder again, beside the registered blueprint
        await engine.start()
        try:
            assert engine.url is not None
            async with aiohttp.ClientSession(headers={"X-Client-Token": TOKEN}) as http:
                for path in ("from_dir", "embedded"):
                    async with http.post(f"{engine.url}/api/v1/jobs/{path}", json={"initial_data": {}}) as resp:
                        assert resp.status == 202, await resp.text()
        finally:
            await engine.stop()


async def test_an_ignored_upstream_setting_in_the_config_is_warned_about_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = engine_on_a_free_port([])
    engine.config.REDIS_HOST = "redis.example"
    await engine.start()
    try:
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any(m.startswith("REDIS_HOST is set but avtomat ignores it") for m in warned), warned
    finally:
        await engine.stop()
