"""The container's life cycle: `dudao run` (polling and webhook) and the CLI start and stop
it once and always dispose the engine."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import bootstrap
from bot.bootstrap import Container, build
from bot.cli import main
from bot.config import Settings
from bot.ports import Notice
from handlers.telegram.app import run_bot
from localapi.server import LocalBotApi
from tests.support.e2e import SAMPLE, MovableClock

SECRET = "lifecycle-secret_0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count_life_cycle(container: Container) -> list[str]:
    """Record every call of the container's start and stop, in order."""
    calls: list[str] = []
    for name in ("start", "stop"):
        original = getattr(container, name)

        async def counted(original: Any = original, name: str = name) -> None:
            calls.append(name)
            await original()

        setattr(container, name, counted)
    return calls


def run_settings(api: LocalBotApi, db_url: str, mode: str) -> Settings:
    settings = Settings(telegram={"token": api.token, "base_url": api.base_url,
                                  "base_file_url": api.base_file_url},
                        database={"url": db_url}, scheduler={"interval_seconds": 3600},
                        web={"listen_port": 0})
    if mode == "webhook":  # validation wants https; the local server accepts plain http
        port = _free_port()
        settings = settings.model_copy(update={"telegram": settings.telegram.model_copy(
            update={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/telegram",
                    "webhook_secret": SECRET}),
            "web": settings.web.model_copy(update={"listen_port": port})})
    return settings


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_dudao_run_starts_and_stops_the_container_once(
        mode: str, db_url: str, shipped_classifier: object) -> None:
    async with LocalBotApi() as api:
        settings = run_settings(api, db_url, mode)
        clock = MovableClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
        container = build(settings, clock=clock, classifier=shipped_classifier)
        calls = count_life_cycle(container)
        pool = container.engine.pool
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        parent = api.user(5001, first_name="家长")
        await parent.send_text("/start")
        assert (await parent.wait_for_message(timeout=15)).text
        if mode == "webhook":
            assert api.bot().webhook is not None
        assert container.scheduler is not None and container.delivery.running
        async with container.uow() as uow:  # delivery runs: a queued row is sent
            await uow.outbox.enqueue(parent.id, "test", Notice.plain("排队的通知"), clock.now())
            await uow.commit()
        await parent.wait_for_message(lambda m: "排队的通知" in (m.text or ""), timeout=10)
        assert calls == ["start"]
        stop.set()
        await asyncio.wait_for(running, 30)
        assert calls == ["start", "stop"]
        assert container.engine.pool is not pool  # disposed (a disposed engine's pool is new)
        assert not container.delivery.running


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Container, Any]]]:
    """Every container the command line builds, with the pool it started with."""
    found: list[tuple[Container, Any]] = []
    real_build = bootstrap.build

    def recording(*args: Any, **kwargs: Any) -> Container:
        container = real_build(*args, **kwargs)
        found.append((container, container.engine.pool))
        return container

    monkeypatch.setattr(bootstrap, "build", recording)
    yield found


def test_cli_commands_dispose_the_engine_even_when_they_fail(
        tmp_path: Path, built: list[tuple[Container, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "dudao.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n')
    assert main(["directory", "import", str(SAMPLE), "--config", str(config)]) == 0
    assert main(["invite", "--supervisor", "DX01", "--config", str(config)]) == 0
    assert main(["invite", "--supervisor", "NOBODY", "--config", str(config)]) == 1
    assert "NOBODY" in capsys.readouterr().err
    assert len(built) == 3
    for container, pool in built:
        assert container.engine.pool is not pool


async def test_a_refused_command_menu_does_not_keep_the_bot_offline(
        db_url: str, shipped_classifier: object, caplog: pytest.LogCaptureFixture) -> None:
    async with LocalBotApi() as api:
        api.fail_next("setMyCommands", error_code=400, description="Bad Request: no menu")
        container = build(run_settings(api, db_url, "polling"), classifier=shipped_classifier)
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        parent = api.user(5002, first_name="家长")
        await parent.send_text("/start")
        assert (await parent.wait_for_message(timeout=15)).text
        stop.set()
        await asyncio.wait_for(running, 30)
    assert "could not set the command menu" in caplog.text


async def test_polling_mode_serves_health_over_http_and_no_webhook(
        db_url: str, shipped_classifier: object, capsys: pytest.CaptureFixture[str]) -> None:
    async with LocalBotApi() as api:
        settings = run_settings(api, db_url, "polling")
        port = _free_port()
        settings = settings.model_copy(update={"web": settings.web.model_copy(
            update={"listen_port": port})})
        container = build(settings, classifier=shipped_classifier)
        stop = asyncio.Event()
        running = asyncio.create_task(run_bot(container, stop))
        parent = api.user(5003, first_name="家长")
        await parent.send_text("/start")
        assert (await parent.wait_for_message(timeout=15)).text
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
                assert (await response.json())["database"] == "ok"
            async with http.post(f"http://127.0.0.1:{port}/telegram", json={}) as response:
                assert response.status in (404, 405)  # updates come by polling only
            async with http.get(f"http://127.0.0.1:{port}/cases") as response:
                assert response.status == 200  # the office console, not logged in: its home
                assert "/web" in await response.text()
        stop.set()
        assert await asyncio.wait_for(running, 30) is True
    assert f"http://127.0.0.1:{port}/health" in capsys.readouterr().out


async def test_a_busy_port_stops_webhook_mode_with_one_line_but_not_polling(
        db_url: str, shipped_classifier: object, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        async with LocalBotApi() as api:
            settings = run_settings(api, db_url, "webhook")
            settings = settings.model_copy(update={"web": settings.web.model_copy(
                update={"listen_port": port})})
            container = build(settings, classifier=shipped_classifier)
            calls = count_life_cycle(container)
            assert await asyncio.wait_for(run_bot(container, asyncio.Event()), 30) is False
            err = capsys.readouterr().err
            assert f"无法在 127.0.0.1:{port} 上开启网页服务" in err and "[web]" in err
            assert calls == ["stop"] and api.bot().webhook is None

            settings = run_settings(api, db_url, "polling")
            settings = settings.model_copy(update={"web": settings.web.model_copy(
                update={"listen_port": port})})
            container = build(settings, classifier=shipped_classifier)
            stop = asyncio.Event()
            running = asyncio.create_task(run_bot(container, stop))
            parent = api.user(5004, first_name="家长")
            await parent.send_text("/start")
            assert (await parent.wait_for_message(timeout=15)).text
            stop.set()
            assert await asyncio.wait_for(running, 30) is True
    assert any("健康检查（/health）暂不可用" in r.getMessage() for r in caplog.records)
