"""What every ad-platform connector does the same way: read campaigns and metrics, make
each change once (and preview it without making it), say precisely why it failed, and
undo a change by applying its inverse."""

from __future__ import annotations

import uuid

import pytest

from shared.connectors import (
    AdPlatformConnector,
    AuthFailed,
    CampaignState,
    Change,
    ChangeRefused,
    ConnectorError,
    RateLimited,
)
from shared.connectors.base import PreviewsChanges
from tests.connectors.harness import Harness

CHANGES = {
    "budget": lambda state: Change("budget", round(state.daily_budget + 7.0, 2)),
    "bid": lambda state: Change("bid", 1.2),
    "status": lambda state: Change("status", "paused" if state.status == "active" else "active"),
}


def _writes(harness: Harness) -> None:
    if not harness.writes:
        pytest.skip(f"{harness.name}: writes are not allowed on this account")


def _value(state: CampaignState, kind: str) -> object:
    return {"budget": state.daily_budget, "bid": state.bid_multiplier, "status": state.status}[kind]


async def _first(harness: Harness) -> CampaignState:
    snapshot = await harness.connector.list_campaigns(harness.account)
    assert snapshot.campaigns, f"{harness.name}: the test account has no campaigns"
    return snapshot.campaigns[0]


async def test_the_connector_fulfils_the_interface(harness: Harness) -> None:
    assert isinstance(harness.connector, AdPlatformConnector)
    assert isinstance(harness.connector, PreviewsChanges)


async def test_campaigns_are_read_with_stable_ids(harness: Harness) -> None:
    first = await harness.connector.list_campaigns(harness.account)
    again = await harness.connector.list_campaigns(harness.account)
    assert first.campaigns
    assert [c.campaign_id for c in first.campaigns] == [c.campaign_id for c in again.campaigns]
    assert all(isinstance(c.campaign_id, uuid.UUID) for c in first.campaigns)
    assert all(c.status in ("active", "paused") and c.daily_budget >= 0 for c in first.campaigns)


async def test_hourly_metrics_are_of_listed_campaigns_and_finished_hours(harness: Harness) -> None:
    start, end = harness.window
    rows = await harness.connector.hourly_report(harness.account, start, end)
    campaigns = {
        c.campaign_id for c in (await harness.connector.list_campaigns(harness.account)).campaigns
    }
    assert rows, f"{harness.name}: no metrics in {start}..{end}"
    assert {r.campaign_id for r in rows} <= campaigns
    assert all(start <= r.hour < end and r.hour.minute == 0 for r in rows)
    assert all(r.clicks <= r.impressions and r.spend >= 0 for r in rows)


@pytest.mark.parametrize("kind", sorted(CHANGES))
async def test_a_change_is_applied_once_per_change_id(harness: Harness, kind: str) -> None:
    _writes(harness)
    if kind not in harness.change_kinds:
        pytest.skip(f"{harness.name} cannot change {kind}")
    state = await _first(harness)
    change = CHANGES[kind](state)
    before = await harness.applied()
    change_id = uuid.uuid4()
    receipt = await harness.connector.apply_change(
        harness.account, state.campaign_id, change, change_id
    )
    assert not receipt.replayed and _value(receipt.campaign, kind) == change.value
    again = await harness.connector.apply_change(
        harness.account, state.campaign_id, change, change_id
    )
    assert again.replayed and _value(again.campaign, kind) == change.value
    assert await harness.applied() == before + 1
    now = (await harness.connector.list_campaigns(harness.account)).campaign(state.campaign_id)
    assert _value(now, kind) == pytest.approx(change.value) if kind != "status" else change.value


@pytest.mark.parametrize("kind", sorted(CHANGES))
async def test_a_preview_checks_the_change_and_makes_none(harness: Harness, kind: str) -> None:
    if kind not in harness.change_kinds:
        pytest.skip(f"{harness.name} cannot change {kind}")
    assert isinstance(harness.connector, PreviewsChanges)
    state = await _first(harness)
    change = CHANGES[kind](state)
    before = await harness.applied()
    preview = await harness.connector.preview_change(harness.account, state.campaign_id, change)
    assert _value(preview, kind) == change.value
    now = (await harness.connector.list_campaigns(harness.account)).campaign(state.campaign_id)
    assert _value(now, kind) == _value(state, kind)
    assert await harness.applied() == before


async def test_a_budget_below_the_minimum_is_refused_unsent(harness: Harness) -> None:
    state = await _first(harness)
    before = await harness.applied()
    with pytest.raises(ChangeRefused) as refused:
        await harness.connector.apply_change(
            harness.account,
            state.campaign_id,
            Change("budget", harness.below_minimum),
            uuid.uuid4(),
        )
    assert refused.value.code == "budget_below_minimum"
    assert await harness.applied() == before


async def test_an_unknown_campaign_is_refused(harness: Harness) -> None:
    _writes(harness)
    with pytest.raises(ChangeRefused) as refused:
        await harness.connector.apply_change(
            harness.account, uuid.UUID(int=7), Change("budget", 50.0), uuid.uuid4()
        )
    assert refused.value.code == "unknown_campaign"


async def test_a_rate_limit_is_retryable_after_the_platforms_delay(harness: Harness) -> None:
    await harness.inject_rate_limit()
    with pytest.raises(RateLimited) as limited:
        await harness.connector.list_campaigns(harness.account)
    assert limited.value.retry_after > 0
    assert (await harness.connector.list_campaigns(harness.account)).campaigns


async def test_an_expired_token_is_an_auth_failure(harness: Harness) -> None:
    await harness.inject_expired_token()
    with pytest.raises(AuthFailed) as failed:
        await harness.connector.list_campaigns(harness.account)
    if harness.secret is not None:
        assert harness.secret not in str(failed.value)


async def test_a_change_whose_answer_is_lost_is_applied_once(harness: Harness) -> None:
    _writes(harness)
    state = await _first(harness)
    change = Change("budget", round(state.daily_budget + 3.0, 2))
    before = await harness.applied()
    await harness.inject_commit_then_drop()
    try:
        receipt = await harness.connector.apply_change(
            harness.account, state.campaign_id, change, uuid.uuid4()
        )
    except ConnectorError as exc:  # pragma: no cover - shows what went wrong
        pytest.fail(f"{harness.name}: the change was not settled: {exc}")
    assert receipt.campaign.daily_budget == change.value
    assert await harness.applied() == before + 1
    now = (await harness.connector.list_campaigns(harness.account)).campaign(state.campaign_id)
    assert now.daily_budget == change.value


async def test_a_change_is_undone_by_its_inverse(harness: Harness) -> None:
    _writes(harness)
    state = await _first(harness)
    await harness.connector.apply_change(
        harness.account, state.campaign_id, Change("budget", state.daily_budget + 5), uuid.uuid4()
    )
    await harness.connector.apply_change(
        harness.account, state.campaign_id, Change("status", "paused"), uuid.uuid4()
    )
    await harness.connector.apply_change(
        harness.account, state.campaign_id, Change("status", state.status), uuid.uuid4()
    )
    undo = await harness.connector.apply_change(
        harness.account, state.campaign_id, Change("budget", state.daily_budget), uuid.uuid4()
    )
    assert undo.campaign.daily_budget == state.daily_budget
    now = (await harness.connector.list_campaigns(harness.account)).campaign(state.campaign_id)
    assert (now.daily_budget, now.status) == (state.daily_budget, state.status)
