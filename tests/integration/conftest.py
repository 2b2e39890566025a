"""Integration fixtures: service worlds seeded on the real databases of tests/conftest.py.

A test module may define its own `world` fixture (the supervisor tests do); it wins there.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import CaseService
from tests.support.clock import FakeClock
from tests.support.services import case_services
from tests.support.worlds import World, office_world


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    """The office test world: a small directory, case and office services, a fake clock."""
    return await office_world(engine)


@pytest.fixture
async def services(engine: AsyncEngine) -> tuple[CaseService, FakeClock, AsyncEngine]:
    """A case service on a tiny seeded directory, its clock and the engine."""
    return await case_services(engine)
