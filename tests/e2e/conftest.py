"""End-to-end fixtures: the shipped classifier and the whole bot against the local Bot API."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.e2e import Dudao, running_dudao


@pytest.fixture(scope="session")
def shipped_classifier() -> object:
    """The model that ships with dudao (loaded once per test session)."""
    from classifier import load

    return load(os.environ.get("DUDAO_TEST_MODEL") or None)


@pytest.fixture
async def dudao(tmp_path: Path, sqlite_template: Path, shipped_classifier: object,
                ) -> AsyncIterator[Dudao]:
    """The whole bot on a fresh SQLite database, polling a local Bot API server."""
    target = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, target)
    async with running_dudao(f"sqlite:///{target}", shipped_classifier) as harness:
        yield harness
