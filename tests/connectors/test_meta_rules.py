"""What only the Meta connector keeps: Meta's four budget changes per ad set per hour,
the delay its usage headers ask for, the request ids it answers with, and the access
token kept out of every record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.connectors import Change, ChangeRefused, RateLimited
from shared.connectors.ids import campaign_uuid
from shared.connectors.meta import MetaConnector, account_number, retry_after_from
from tests.connectors.harness import Harness, meta_fake_harness


@pytest.fixture
async def meta() -> AsyncIterator[Harness]:
    async with meta_fake_harness() as found:
        yield found


async def test_the_fifth_budget_change_in_an_hour_is_refused_without_sending(meta: Harness) -> None:
    snapshot = await meta.connector.list_campaigns(meta.account)
    campaign = snapshot.campaigns[0].campaign_id
    for step in range(4):
        await meta.connector.apply_change(
            meta.account, campaign, Change("budget", 60.0 + step), uuid.uuid4()
        )
    assert await meta.applied() == 4
    with pytest.raises(ChangeRefused) as refused:
        await meta.connector.apply_change(
            meta.account, campaign, Change("budget", 90.0), uuid.uuid4()
        )
    assert refused.value.code == "budget_change_limit"
    assert "4 budget changes per ad set per hour" in refused.value.message
    assert await meta.applied() == 4
    # other settings and other ad sets are not held back
    await meta.connector.apply_change(
        meta.account, campaign, Change("status", "paused"), uuid.uuid4()
    )
    other = snapshot.campaigns[1].campaign_id
    await meta.connector.apply_change(meta.account, other, Change("budget", 90.0), uuid.uuid4())
    assert await meta.applied() == 6


async def test_a_change_that_changes_nothing_is_not_sent(meta: Harness) -> None:
    state = (await meta.connector.list_campaigns(meta.account)).campaigns[0]
    receipt = await meta.connector.apply_change(
        meta.account, state.campaign_id, Change("budget", state.daily_budget), uuid.uuid4()
    )
    assert receipt.campaign == state
    assert await meta.applied() == 0


async def test_the_rate_limit_delay_is_read_from_the_usage_headers(meta: Harness) -> None:
    await meta.inject_rate_limit()
    with pytest.raises(RateLimited) as limited:
        await meta.connector.list_campaigns(meta.account)
    assert limited.value.retry_after == 7 * 60  # estimated_time_to_regain_access, minutes
    assert "x-business-use-case-usage" in limited.value.usage


def test_usage_headers_known_answers() -> None:
    assert (
        retry_after_from(
            {"x-ad-account-usage": '{"acc_id_util_pct": 100, "reset_time_duration": 90}'}
        )[0]
        == 90
    )
    assert retry_after_from({})[0] == 60  # nothing said: a minute
    usage = (
        '{"1": [{"estimated_time_to_regain_access": 3}, {"estimated_time_to_regain_access": 11}]}'
    )
    assert retry_after_from({"x-business-use-case-usage": usage})[0] == 660


async def test_a_change_carries_metas_request_id(meta: Harness) -> None:
    state = (await meta.connector.list_campaigns(meta.account)).campaigns[0]
    receipt = await meta.connector.apply_change(
        meta.account, state.campaign_id, Change("status", "paused"), uuid.uuid4()
    )
    assert receipt.request_id is not None and receipt.request_id.startswith("AfakeTrace")
    writes = [c for c in meta.calls if c.operation == "apply_change"]
    assert writes[-1].response == {"fbtrace_id": receipt.request_id}


async def test_campaign_ids_are_uuid5_of_platform_account_and_ad_set(meta: Harness) -> None:
    assert isinstance(meta.connector, MetaConnector)
    snapshot = await meta.connector.list_campaigns(meta.account)
    assert snapshot.campaigns[0].campaign_id == campaign_uuid("meta", "1234567890", "2384000000000")
    assert meta.connector.ids.to_external(snapshot.campaigns[0].campaign_id) == "2384000000000"
    assert campaign_uuid("meta", "1", "2") != campaign_uuid("google_ads", "1", "2")


def test_account_ids_are_digits() -> None:
    assert account_number("act_42") == "42"
    with pytest.raises(ValueError, match="digits"):
        account_number("act_4x2")


def test_the_token_is_scrubbed_from_error_texts() -> None:
    connector = MetaConnector("1", "EAAsecret")
    text = "GET http://x/v21.0/1?access_token=EAAsecret&fields=id failed; EAAsecret again"
    assert "EAAsecret" not in connector.scrub(text)


async def test_budget_changes_made_elsewhere_count_against_the_hour(meta: Harness) -> None:
    assert isinstance(meta.connector, MetaConnector)
    snapshot = await meta.connector.list_campaigns(meta.account)
    campaign = snapshot.campaigns[0].campaign_id
    now = meta.connector.clock()
    # three this hour (by another process), one over an hour ago
    meta.connector.remember_budget_changes(
        [(campaign, now - 600), (campaign, now - 300), (campaign, now - 4000), (campaign, now - 60)]
    )
    assert meta.connector.budget_changes_this_hour(campaign) == 3
    await meta.connector.apply_change(meta.account, campaign, Change("budget", 61.0), uuid.uuid4())
    with pytest.raises(ChangeRefused) as refused:
        await meta.connector.apply_change(
            meta.account, campaign, Change("budget", 62.0), uuid.uuid4()
        )
    assert refused.value.code == "budget_change_limit"
    assert await meta.applied() == 1
