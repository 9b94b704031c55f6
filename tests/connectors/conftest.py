"""The connector contract suite: every test here runs once per connector in ``HARNESSES``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.connectors.harness import HARNESSES, Harness


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param]() as found:
        yield found
        if found.secret is not None:
            for call in found.calls:
                assert found.secret not in repr(call), f"{call.operation} recorded the secret"
