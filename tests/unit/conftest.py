"""The unit layer runs on fakes: no database, no socket, no subprocess (checked here)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATABASE_FIXTURES = {"db_url", "engine", "sqlite_template", "pg_template", "pg_admin_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a unit test that asks for a database fixture."""
    for item in items:
        if item.path.is_relative_to(HERE):
            used = DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if used:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {sorted(used)};"
                                        " move it to tests/integration")


@pytest.fixture(autouse=True)
def _no_network_and_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a socket connection or a child process fail the unit test that tries it."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("unit tests use fakes: no sockets, no subprocesses")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
