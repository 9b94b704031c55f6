"""The TypeScript client against the live platform: its node tests (test/live) list, get,
create, update, page and meet each kind of error through a real gateway."""

from __future__ import annotations

import json

import aiohttp

from shared.config import Settings
from tests.e2e.conftest import make_tenant
from tests.e2e.platform import Platform
from tests.node import CLIENT, compiled, node_tests


async def test_the_served_document_is_the_one_the_client_is_generated_from(
    platform: Platform,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{platform.gateway}/api/ai/openapi.json") as r:
            assert r.status == 200
            served = await r.json()
    committed = json.loads((CLIENT / "openapi.json").read_text(encoding="utf-8"))
    assert served == committed, "the gateway serves another document: run `make client`"


async def test_the_client_works_against_the_gateway(platform: Platform, settings: Settings) -> None:
    tenant = await make_tenant(settings, "typescript-client")
    # A gateway in front of the same services that allows three calls, then asks to wait.
    strict = await platform.start_gateway_variant(
        "typescript-strict", rate_limit_per_minute=1, rate_limit_burst=3
    )
    env = {
        "ADPILOT_TEST_BASE_URL": platform.gateway,
        "ADPILOT_TEST_STRICT_URL": strict,
        **{f"ADPILOT_TEST_{role.upper()}_KEY": key for role, key in tenant.keys.items()},
    }
    # The unit tests checked the types already.
    with compiled(check=False) as out:
        output = node_tests(out / "test" / "live", env=env)
    # Every live test ran: none skipped for want of a setting.
    assert "# skipped 0" in output, output[-4000:]
