"""Competitive intelligence end to end: a competitor triples its bids in a campaign's
auctions on the sandbox; the campaign's CPC jumps and an incident opens; the optimizer
pulls the day's Auction Insights, finds the competitor's move and publishes it; the
alerts service links the incident to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.config import Settings
from tests.e2e.platform import Platform
from tests.e2e.test_act import Account, open_account
from tests.helpers import eventually

pytestmark = pytest.mark.e2e

BACKFILL = 240
JUMP_AT = BACKFILL + 4
# Enough hours for the jump's day and the next (which confirms it) to be over.
LIVE_HOURS = 76
# Hours finished at a time: the detector judges every hour of a batch within six of the
# newest, so a few at once raise the same incidents as one by one.
STEP = 4


@pytest.fixture
async def account(platform: Platform, settings: Settings) -> AsyncIterator[Account]:
    auctions = {
        "campaigns": 3,
        "moves": [{"kind": "aggressive", "campaign_index": 2, "start_hour": JUMP_AT}],
    }
    async for opened in open_account(
        platform,
        settings,
        seed=7,
        campaigns=3,
        backfill_hours=BACKFILL,
        headroom_hours=LIVE_HOURS + 8,
        auctions=auctions,
    ):
        yield opened


def _competitor_links(alert: dict[str, Any]) -> list[dict[str, Any]]:
    explanation = (alert.get("evidence") or {}).get("explanation") or {}
    return [c for c in explanation.get("candidates", []) if c["source"] == "competitor"]


async def test_a_competitors_jump_is_found_and_linked_to_the_incident(account: Account) -> None:
    campaign = account.campaigns[2]
    async with account.sandbox.get(f"/v1/accounts/{account.tenant.id}/competitor-moves") as r:
        (move,) = (await r.json())["moves"]
    rival = move["competitor"]

    linked: list[dict[str, Any]] = []
    for _ in range(0, LIVE_HOURS, STEP):
        await account.advance(STEP)
        alerts = (await account.get("/alerts", affected_entity_id=str(campaign)))["items"]
        linked = [a for a in alerts if _competitor_links(a)]
        if linked:
            break

    async def found() -> list[dict[str, Any]] | None:
        alerts = (await account.get("/alerts", affected_entity_id=str(campaign)))["items"]
        return [a for a in alerts if _competitor_links(a)] or None

    linked = linked or await eventually(found, within=60)
    alert = linked[0]
    assert alert["alert_key"] == "cpc_up" or alert["evidence"]["primary"] == "cpc_up"
    (candidate,) = [c for c in _competitor_links(alert) if c["competitor"] == rival]
    assert candidate["kind"] == "aggressive"
    assert candidate["label"] == "co-occurring, not shown to be causal"

    events = (await account.get("/competitive-intelligence/events", campaign_id=str(campaign)))[
        "items"
    ]
    assert [(e["competitor"], e["kind"]) for e in events] == [(rival, "aggressive")]
    assert events[0]["size"] >= 5 and events[0]["evidence"]["position_above_change"] > 0
    # nobody else moved, in this campaign or the others
    others = (await account.get("/competitive-intelligence/events"))["items"]
    assert len(others) == 1

    rows = (
        await account.get(
            "/competitive-intelligence", campaign_id=str(campaign), competitor=rival, limit="200"
        )
    )["items"]
    assert rows and all(r["data_source"] == "sandbox" for r in rows)
    assert {"impression_share", "position_above_rate"} <= set(rows[0]["intelligence_data"])
