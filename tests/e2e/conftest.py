from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.config import Settings
from tests.e2e.platform import Platform


@pytest.fixture(scope="session")
async def platform(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    running = Platform(settings, tmp_path_factory.mktemp("service-logs"))
    await running.start_all()
    yield running
    await running.stop_all()


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=platform.gateway) as session:
        yield session
