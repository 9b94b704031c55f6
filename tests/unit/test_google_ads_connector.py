"""The Google Ads connector against a fake Google Ads API: gRPC over TLS, the SDK's own
messages, failures in the API's trailing metadata (tests/fakes/google_ads_server.py).

The platform-neutral scenarios take a ``platform`` (connector factory + fake control, see
:class:`~tests.fakes.google_ads_server.GoogleAdsPlatform`) from :data:`PLATFORMS`, so they
can run against any connector whose fake offers the same control; the ones about Google
Ads' own ways (credentials, batches, request ids, bidding strategies, currencies) take
``google_ads``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from uuid import NAMESPACE_URL, uuid4, uuid5

import pytest

from shared.connectors.base import (
    AdPlatformConnector,
    AuthFailed,
    Change,
    ChangeRefused,
    PlatformUnavailable,
    RateLimited,
    UnknownAccount,
)
from shared.connectors.google_ads import (
    GoogleAdsAuthFailed,
    GoogleAdsConnector,
    GoogleAdsCredentials,
    GoogleAdsReceipt,
    GoogleAdsRefused,
    campaign_uuid,
)
from tests.fakes.google_ads_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEVELOPER_TOKEN,
    GoogleAdsPlatform,
)

NOW = datetime(2026, 7, 2, 15, 20, tzinfo=UTC)


# The connector factories + fake controls the platform-neutral scenarios run against; each
# entry starts one (see GoogleAdsPlatform for the interface a control offers).
PLATFORMS: dict[str, Callable[[], Awaitable[GoogleAdsPlatform]]] = {
    "google_ads": GoogleAdsPlatform.started,
}


@pytest.fixture(params=sorted(PLATFORMS))
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[GoogleAdsPlatform]:
    started = await PLATFORMS[request.param]()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def connector(platform: GoogleAdsPlatform) -> AsyncIterator[GoogleAdsConnector]:
    made = platform.connector(clock=lambda: NOW)
    try:
        yield made
    finally:
        await made.close()


# Google Ads' own: its credentials, batches, request ids, bidding strategies.
@pytest.fixture
async def google_ads() -> AsyncIterator[GoogleAdsPlatform]:
    started = await GoogleAdsPlatform.started()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def google_connector(google_ads: GoogleAdsPlatform) -> AsyncIterator[GoogleAdsConnector]:
    made = google_ads.connector(clock=lambda: NOW)
    try:
        yield made
    finally:
        await made.close()


async def test_is_an_ad_platform_connector(connector: GoogleAdsConnector) -> None:
    assert isinstance(connector, AdPlatformConnector)
    assert connector.name == "google_ads"


# --- reading -----------------------------------------------------------------------


async def test_campaigns_are_read_with_budget_status_and_bids(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    search = platform.add_campaign("Search", daily_budget=120.0, bids=(1.0, 2.5))
    brand = platform.add_campaign("Brand", daily_budget=35.5, status="paused")

    snapshot = await connector.list_campaigns(platform.account)

    assert snapshot.as_of == datetime(2026, 7, 2, 15, tzinfo=UTC)
    states = {s.campaign_id: s for s in snapshot.campaigns}
    assert set(states) == {search, brand}
    assert (states[search].name, states[search].status, states[search].daily_budget) == (
        "Search",
        "active",
        120.0,
    )
    assert (states[brand].status, states[brand].daily_budget) == ("paused", 35.5)
    assert states[search].bid_multiplier == 1.0


async def test_campaign_ids_map_back_to_googles(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=120.0)
    assert google_connector.google_campaign_id(campaign) is None  # not read yet
    await google_connector.list_campaigns(google_ads.account)
    assert google_connector.google_campaign_id(campaign) == google_ads.google_id(campaign)


async def test_account_settings_are_read_from_the_customer(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    assert await google_connector.account_settings(google_ads.account) == (
        "America/New_York",
        "USD",
    )


def test_campaign_ids_map_deterministically_to_uuids() -> None:
    first = campaign_uuid("1234567890", 987654321)
    assert first == campaign_uuid("1234567890", 987654321)
    assert first == uuid5(NAMESPACE_URL, "google_ads:1234567890:987654321")
    assert first != campaign_uuid("1234567891", 987654321)
    assert first != campaign_uuid("1234567890", 987654322)


async def test_hourly_report_turns_account_hours_into_utc_hours(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    # New York: UTC-5 in winter, UTC-4 in summer (the fake's account time zone).
    campaign = platform.add_campaign("Search", daily_budget=200.0)
    platform.add_local_hour(
        campaign,
        date(2026, 7, 1),
        23,
        cost_micros=12_340_000,
        clicks=7,
        impressions=300,
        conversions=2.0,
        conversions_value=81.5,
    )
    platform.add_local_hour(campaign, date(2026, 7, 2), 10, clicks=1)  # 14:00 UTC
    platform.add_local_hour(campaign, date(2026, 7, 2), 11, clicks=1)  # 15:00 UTC: running

    rows = await connector.hourly_report(
        platform.account, datetime(2026, 7, 2, 0, tzinfo=UTC), datetime(2026, 7, 3, tzinfo=UTC)
    )

    assert [(r.hour, r.clicks) for r in rows] == [
        (datetime(2026, 7, 2, 3, tzinfo=UTC), 7),  # 23:00 on July 1st in New York
        (datetime(2026, 7, 2, 14, tzinfo=UTC), 1),
    ]
    first = rows[0]
    assert first.campaign_id == campaign
    assert (first.impressions, first.conversions, first.spend, first.revenue) == (
        300,
        2,
        12.34,
        81.5,
    )
    assert first.budget == 200.0


async def test_hourly_report_in_winter_uses_standard_time(platform: GoogleAdsPlatform) -> None:
    campaign = platform.add_campaign("Search", daily_budget=50.0)
    platform.add_local_hour(campaign, date(2026, 1, 15), 9, clicks=3)
    made = platform.connector(clock=lambda: NOW)
    try:
        rows = await made.hourly_report(
            platform.account,
            datetime(2026, 1, 15, tzinfo=UTC),
            datetime(2026, 1, 16, tzinfo=UTC),
        )
    finally:
        await made.close()
    assert [(r.hour, r.clicks) for r in rows] == [(datetime(2026, 1, 15, 14, tzinfo=UTC), 3)]


async def test_a_collapse_zeroes_conversions_from_its_hour_on(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    falls, steady = (platform.add_campaign(n, daily_budget=50.0) for n in ("Falls", "Steady"))
    for campaign in (falls, steady):
        for hour in (8, 9, 10):
            platform.add_local_hour(
                campaign, date(2026, 7, 2), hour, clicks=40, conversions=4.0, conversions_value=90.0
            )
    # 9:00 in New York is 13:00 UTC: from then on Falls' clicks go on and nothing converts.
    platform.collapse(falls, datetime(2026, 7, 2, 13, tzinfo=UTC))

    rows = await connector.hourly_report(
        platform.account, datetime(2026, 7, 2, tzinfo=UTC), datetime(2026, 7, 3, tzinfo=UTC)
    )

    figures = {(r.campaign_id, r.hour.hour): (r.clicks, r.conversions, r.revenue) for r in rows}
    assert figures == {
        (falls, 12): (40, 4, 90.0),
        (falls, 13): (40, 0, 0.0),
        (falls, 14): (40, 0, 0.0),
        (steady, 12): (40, 4, 90.0),
        (steady, 13): (40, 4, 90.0),
        (steady, 14): (40, 4, 90.0),
    }


async def test_hourly_report_across_daylight_saving_changes(platform: GoogleAdsPlatform) -> None:
    campaign = platform.add_campaign("Search", daily_budget=50.0)
    # New York springs forward at 2:00 on March 8th 2026 (no hour 2 that day) and falls
    # back at 2:00 on November 1st (hour 1 twice; Google reports it once).
    for local_date, hour, clicks in [
        (date(2026, 3, 8), 1, 1),
        (date(2026, 3, 8), 3, 2),
        (date(2026, 11, 1), 0, 3),
        (date(2026, 11, 1), 1, 4),
        (date(2026, 11, 1), 2, 5),
    ]:
        platform.add_local_hour(campaign, local_date, hour, clicks=clicks)
    made = platform.connector(clock=lambda: NOW.replace(year=2027))
    try:
        spring = await made.hourly_report(
            platform.account, datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
        )
        autumn = await made.hourly_report(
            platform.account, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
        )
    finally:
        await made.close()
    assert [(r.hour.hour, r.clicks) for r in spring] == [(6, 1), (7, 2)]
    # 0:00 and 1:00 are still summer time (UTC-4), 2:00 is winter time (UTC-5).
    assert [(r.hour.hour, r.clicks) for r in autumn] == [(4, 3), (5, 4), (7, 5)]


async def test_a_tenant_the_connector_does_not_serve_is_an_unknown_account(
    connector: GoogleAdsConnector,
) -> None:
    with pytest.raises(UnknownAccount):
        await connector.list_campaigns(uuid4())


async def test_a_customer_google_does_not_know_is_an_unknown_account(
    google_ads: GoogleAdsPlatform,
) -> None:
    made = google_ads.connector(customer_id="9999999999")
    try:
        with pytest.raises(UnknownAccount):
            await made.list_campaigns(google_ads.account)
    finally:
        await made.close()


# --- writing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "asked", "sent"),
    [("USD", 123.456, 123.46), ("JPY", 1234.6, 1235.0), ("KWD", 10.0004, 10.0)],
)
async def test_budget_is_sent_in_micros_of_the_currency_unit(
    currency: str, asked: float, sent: float
) -> None:
    platform = await GoogleAdsPlatform.started(currency=currency)
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector()
    try:
        receipt = await made.apply_change(
            platform.account, campaign, Change("budget", asked), uuid4()
        )
    finally:
        await made.close()
        await platform.stop()
    assert platform.settings(campaign)["daily_budget"] == sent
    assert receipt.campaign.daily_budget == sent
    assert platform.fake.mutations("MutateCampaignBudgets")[0][3] == round(sent * 1_000_000)


async def test_budget_preview_is_validated_but_not_made(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)

    preview = await connector.preview_change(platform.account, campaign, Change("budget", 95.0))

    assert preview.daily_budget == 95.0
    assert platform.settings(campaign)["daily_budget"] == 80.0
    (call,) = platform.calls("budget")
    assert call.validate_only
    assert platform.writes() == 0


async def test_preview_of_a_refused_change_is_refused(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    platform.set_min_budget(10.0)
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    with pytest.raises(ChangeRefused) as refused:
        await connector.preview_change(platform.account, campaign, Change("budget", 5.0))
    assert refused.value.code == "budget_below_minimum"
    assert platform.writes() == 0


async def test_pause_and_enable(platform: GoogleAdsPlatform, connector: GoogleAdsConnector) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)

    paused = await connector.apply_change(
        platform.account, campaign, Change("status", "paused"), uuid4()
    )
    assert paused.campaign.status == "paused"
    assert platform.settings(campaign)["status"] == "paused"

    preview = await connector.preview_change(platform.account, campaign, Change("status", "active"))
    assert preview.status == "active"
    assert platform.settings(campaign)["status"] == "paused"

    await connector.apply_change(platform.account, campaign, Change("status", "active"), uuid4())
    assert platform.settings(campaign)["status"] == "active"
    assert platform.writes("status") == 2


async def test_bid_multiplier_scales_every_ad_group_and_undo_restores_them(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0, bids=(1.0, 2.5, 0.37))

    raised = await connector.apply_change(platform.account, campaign, Change("bid", 1.2), uuid4())

    assert platform.settings(campaign)["bids"] == [1.2, 3.0, 0.44]  # 0.444 to the cent
    assert raised.campaign.bid_multiplier == 1.2
    assert (await connector.list_campaigns(platform.account)).campaign(
        campaign
    ).bid_multiplier == 1.2

    undone = await connector.apply_change(platform.account, campaign, Change("bid", 1.0), uuid4())

    assert platform.settings(campaign)["bids"] == [1.0, 2.5, 0.37]
    assert undone.campaign.bid_multiplier == 1.0


async def test_bids_of_a_campaign_on_automated_bidding_are_left_to_google(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign(
        "Smart", daily_budget=80.0, bids=(1.0,), bidding="MAXIMIZE_CONVERSIONS"
    )
    with pytest.raises(ChangeRefused) as refused:
        await google_connector.apply_change(
            google_ads.account, campaign, Change("bid", 1.2), uuid4()
        )
    assert refused.value.code == "automated_bidding"
    assert google_ads.calls("bid") == []


async def test_ad_groups_without_a_bid_of_their_own_are_not_given_one(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0, bids=(2.0, 0.0))
    await google_connector.apply_change(google_ads.account, campaign, Change("bid", 1.5), uuid4())
    assert google_ads.settings(campaign)["bids"] == [3.0, 0.0]


async def test_bid_preview_changes_no_bid(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0, bids=(1.0, 2.0))
    preview = await connector.preview_change(platform.account, campaign, Change("bid", 0.5))
    assert preview.bid_multiplier == 0.5
    assert platform.settings(campaign)["bids"] == [1.0, 2.0]
    assert all(c.validate_only for c in platform.calls("bid"))


async def test_undo_of_a_budget_change_applies_the_inverse(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    before = (await connector.list_campaigns(platform.account)).campaign(campaign)

    await connector.apply_change(platform.account, campaign, Change("budget", 96.0), uuid4())
    await connector.apply_change(
        platform.account, campaign, Change("budget", before.daily_budget), uuid4()
    )

    assert platform.settings(campaign)["daily_budget"] == 80.0
    assert platform.written("budget") == [96.0, 80.0]


async def test_a_change_that_changes_nothing_sends_nothing(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0, bids=(1.0,))
    for change in (Change("budget", 80.0), Change("status", "active"), Change("bid", 1.0)):
        receipt = await connector.apply_change(platform.account, campaign, change, uuid4())
        assert not receipt.replayed
        assert isinstance(receipt, GoogleAdsReceipt) and receipt.request_ids == ()
        assert receipt.request_id is None
    assert platform.calls("budget") == platform.calls("status") == platform.calls("bid") == []


async def test_the_same_change_id_is_applied_once(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    change_id = uuid4()
    first = await connector.apply_change(
        platform.account, campaign, Change("budget", 90.0), change_id
    )
    # Someone changes the budget in Google Ads in between; the change id still answers once.
    platform.edit(campaign, daily_budget=70.0)
    again = await connector.apply_change(
        platform.account, campaign, Change("budget", 90.0), change_id
    )
    assert not first.replayed and again.replayed
    assert again.campaign == first.campaign
    assert platform.writes() == 1


async def test_budget_under_the_minimum_is_refused_before_sending(
    platform: GoogleAdsPlatform,
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector(min_daily_budget=5.0)
    try:
        for value in (4.99, 0.0):
            with pytest.raises(ChangeRefused) as refused:
                await made.apply_change(
                    platform.account, campaign, Change("budget", value), uuid4()
                )
            assert refused.value.code == "budget_below_minimum"
    finally:
        await made.close()
    assert platform.calls("budget") == []


async def test_googles_own_minimum_refusal_is_budget_below_minimum(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    platform.set_min_budget(10.0)  # higher than the connector's own 1.00
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    with pytest.raises(ChangeRefused) as refused:
        await connector.apply_change(platform.account, campaign, Change("budget", 5.0), uuid4())
    assert refused.value.code == "budget_below_minimum"
    assert platform.settings(campaign)["daily_budget"] == 80.0
    assert len(platform.calls("budget")) == 1  # refused: not tried again


async def test_a_shared_budget_is_not_changed(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0, shared_budget=True)
    with pytest.raises(ChangeRefused) as refused:
        await google_connector.apply_change(
            google_ads.account, campaign, Change("budget", 90.0), uuid4()
        )
    assert refused.value.code == "shared_budget"
    assert google_ads.calls("budget") == []


@pytest.mark.parametrize("change", [Change("audience", 1.2), Change("creative", "B")])
async def test_settings_google_ads_does_not_have_are_refused(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector, change: Change
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    with pytest.raises(ChangeRefused) as refused:
        await google_connector.apply_change(google_ads.account, campaign, change, uuid4())
    assert refused.value.code == "unsupported_change"


async def test_an_unknown_campaign_is_refused(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    platform.add_campaign("Search", daily_budget=80.0)
    with pytest.raises(ChangeRefused) as refused:
        await connector.apply_change(platform.account, uuid4(), Change("budget", 90.0), uuid4())
    assert refused.value.code == "unknown_campaign"


# --- failures ----------------------------------------------------------------------


async def test_concurrent_modification_is_retried(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    platform.inject("conflict", on="budget")

    receipt = await connector.apply_change(
        platform.account, campaign, Change("budget", 90.0), uuid4()
    )

    assert receipt.campaign.daily_budget == 90.0
    assert [c.succeeded for c in platform.calls("budget")] == [False, True]
    assert platform.writes() == 1
    assert len(platform.sleeps) == 1


async def test_quota_errors_wait_the_retry_delay_google_asks_for(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    platform.inject("rate_limited", on="budget", retry_delay=7.5)

    await connector.apply_change(platform.account, campaign, Change("budget", 90.0), uuid4())

    assert platform.settings(campaign)["daily_budget"] == 90.0
    assert platform.sleeps and platform.sleeps[0] >= 7.5
    assert [c.succeeded for c in platform.calls("budget")] == [False, True]


async def test_a_long_quota_wait_holds_back_the_account(
    platform: GoogleAdsPlatform,
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector(max_retry_delay=60.0)
    platform.inject("rate_limited", on="read", retry_delay=3600.0)
    try:
        with pytest.raises(RateLimited) as limited:
            await made.list_campaigns(platform.account)
        assert limited.value.retry_after == pytest.approx(3600.0)
        calls = len(platform.calls())
        # The account waits out the hour: the next call does not reach Google at all.
        with pytest.raises(RateLimited) as still:
            await made.apply_change(platform.account, campaign, Change("budget", 90.0), uuid4())
        assert 3500.0 < still.value.retry_after <= 3600.0
        assert len(platform.calls()) == calls
    finally:
        await made.close()


async def test_throttling_that_outlasts_the_attempts_is_rate_limited(
    platform: GoogleAdsPlatform,
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector(attempts=3)
    for _ in range(3):
        platform.inject("rate_limited", on="budget", retry_delay=4.0)
    try:
        with pytest.raises(RateLimited) as limited:
            await made.apply_change(platform.account, campaign, Change("budget", 90.0), uuid4())
    finally:
        await made.close()
    assert 3.0 < limited.value.retry_after <= 4.0
    assert [c.succeeded for c in platform.calls("budget")] == [False, False, False]
    assert platform.writes() == 0


async def test_an_expired_access_token_is_refreshed_once(
    platform: GoogleAdsPlatform, connector: GoogleAdsConnector
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    await connector.list_campaigns(platform.account)
    assert platform.tokens_issued() == 1
    platform.expire_tokens()

    await connector.apply_change(platform.account, campaign, Change("budget", 90.0), uuid4())

    assert platform.tokens_issued() == 2
    assert platform.settings(campaign)["daily_budget"] == 90.0


async def test_a_revoked_refresh_token_is_an_authentication_failure(
    google_ads: GoogleAdsPlatform,
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    revoked = GoogleAdsCredentials(
        developer_token=DEVELOPER_TOKEN,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token="revoked",
    )
    made = google_ads.connector(credentials=revoked)
    try:
        with pytest.raises(GoogleAdsAuthFailed) as refused:
            await made.apply_change(google_ads.account, campaign, Change("budget", 90.0), uuid4())
        assert isinstance(refused.value, AuthFailed)
        assert refused.value.code == "authentication_failed"
        assert "fake-refresh-token" not in str(refused.value)
        with pytest.raises(GoogleAdsAuthFailed) as failed:
            await made.list_campaigns(google_ads.account)
        assert failed.value.code == "authentication_failed"
    finally:
        await made.close()
    assert google_ads.fake.calls == []  # no token, no call
    assert google_ads.sleeps == []  # and no retry


async def test_a_wrong_developer_token_is_an_authentication_failure(
    google_ads: GoogleAdsPlatform,
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    wrong = GoogleAdsCredentials("not-approved", CLIENT_ID, CLIENT_SECRET, "fake-refresh-token")
    made = google_ads.connector(credentials=wrong)
    try:
        with pytest.raises(GoogleAdsAuthFailed) as refused:
            await made.apply_change(google_ads.account, campaign, Change("budget", 90.0), uuid4())
    finally:
        await made.close()
    assert refused.value.code == "authentication_failed"
    assert refused.value.request_id == google_ads.calls("read")[0].request_id
    assert google_ads.writes() == 0


async def test_a_user_without_access_is_refused_as_permission_denied(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    google_ads.inject("permission_denied", on="budget")
    with pytest.raises(GoogleAdsAuthFailed) as refused:
        await google_connector.apply_change(
            google_ads.account, campaign, Change("budget", 90.0), uuid4()
        )
    assert refused.value.code == "permission_denied"
    google_ads.inject("permission_denied", on="read")
    with pytest.raises(GoogleAdsAuthFailed) as failed:
        await google_connector.list_campaigns(google_ads.account)
    assert failed.value.code == "permission_denied"
    assert google_ads.writes() == 0
    assert google_ads.sleeps == []  # never retried


@pytest.mark.parametrize("fault", ["commit_then_drop", "commit_then_timeout"])
async def test_an_ambiguous_failure_rereads_and_does_not_apply_twice(
    platform: GoogleAdsPlatform, fault: str
) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector(timeout_seconds=0.5)
    platform.inject(fault, on="budget")
    try:
        receipt = await made.apply_change(
            platform.account, campaign, Change("budget", 90.0), uuid4()
        )
    finally:
        await made.close()

    assert receipt.campaign.daily_budget == 90.0
    assert platform.writes() == 1
    # One write, whose answer was lost; then a read showed the budget holds.
    assert len(platform.calls("budget")) == 1
    assert len([r for r in platform.records if r.outcome == "error"]) == 1
    after_write = platform.calls().index(platform.calls("budget")[0]) + 1
    assert platform.calls()[after_write:]
    assert all(c in platform.calls("read") for c in platform.calls()[after_write:])


async def test_an_unreachable_platform_is_unavailable(platform: GoogleAdsPlatform) -> None:
    campaign = platform.add_campaign("Search", daily_budget=80.0)
    made = platform.connector(attempts=2)
    await platform.stop()
    try:
        with pytest.raises(PlatformUnavailable):
            await made.apply_change(platform.account, campaign, Change("budget", 90.0), uuid4())
    finally:
        await made.close()
    assert len(platform.sleeps) == 1


async def test_partial_failure_is_mapped_to_each_change(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    google_ads.set_min_budget(10.0)
    small = google_ads.add_campaign("Small", daily_budget=80.0)
    big = google_ads.add_campaign("Big", daily_budget=80.0)
    paused = google_ads.add_campaign("Paused", daily_budget=80.0)
    ids = [uuid4(), uuid4(), uuid4(), uuid4()]

    outcomes = await google_connector.apply_changes(
        google_ads.account,
        [
            (small, Change("budget", 5.0), ids[0]),
            (big, Change("budget", 150.0), ids[1]),
            (paused, Change("status", "paused"), ids[2]),
            (uuid4(), Change("budget", 20.0), ids[3]),
        ],
    )

    refused, applied, paused_receipt, unknown = outcomes
    assert isinstance(refused, ChangeRefused) and refused.code == "budget_below_minimum"
    assert not isinstance(applied, ChangeRefused) and applied.change_id == ids[1]
    assert applied.campaign.daily_budget == 150.0
    assert not isinstance(paused_receipt, ChangeRefused)
    assert paused_receipt.campaign.status == "paused"
    assert isinstance(unknown, ChangeRefused) and unknown.code == "unknown_campaign"
    assert google_ads.settings(small)["daily_budget"] == 80.0
    assert google_ads.settings(big)["daily_budget"] == 150.0
    # Both budgets went in one request.
    (budget_call,) = google_ads.calls("budget")
    assert budget_call.operations == 2


async def test_two_changes_to_one_setting_in_a_batch_keep_the_first(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    first, second = await google_connector.apply_changes(
        google_ads.account,
        [(campaign, Change("budget", 90.0), uuid4()), (campaign, Change("budget", 60.0), uuid4())],
    )
    assert not isinstance(first, ChangeRefused)
    assert isinstance(second, ChangeRefused) and second.code == "conflicting_change"
    assert google_ads.settings(campaign)["daily_budget"] == 90.0


async def test_every_call_is_recorded_with_googles_request_id(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    google_ads.set_min_budget(10.0)
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    receipt = await google_connector.apply_change(
        google_ads.account, campaign, Change("budget", 90.0), uuid4()
    )
    with pytest.raises(ChangeRefused) as refused:
        await google_connector.apply_change(
            google_ads.account, campaign, Change("budget", 5.0), uuid4()
        )

    # The receipt and the refusal name the mutate that made or refused the change.
    budget_calls = [c.request_id for c in google_ads.calls("budget")]
    assert isinstance(receipt, GoogleAdsReceipt) and receipt.request_ids == (budget_calls[0],)
    assert receipt.request_id == budget_calls[0]
    assert isinstance(refused.value, GoogleAdsRefused)
    assert refused.value.request_id == budget_calls[1]

    recorded = [r.response["request_id"] for r in google_ads.records if r.response]
    assert recorded == google_ads.request_ids()
    assert all(recorded)
    mutates = [r for r in google_ads.records if r.operation.endswith("CampaignBudgetService")]
    assert [r.outcome for r in mutates] == ["success", "error"]
    assert mutates[1].error is not None and "budget_below_per_day_minimum" in mutates[1].error
    assert all(r.account == google_ads.account for r in google_ads.records)
    assert mutates[0].request["operations"][0]["amount_micros"] == 90_000_000


async def test_experiments_are_not_run_here(
    google_ads: GoogleAdsPlatform, google_connector: GoogleAdsConnector
) -> None:
    campaign = google_ads.add_campaign("Search", daily_budget=80.0)
    with pytest.raises(ChangeRefused) as refused:
        await google_connector.start_experiment(google_ads.account, campaign, uuid4(), [])
    assert refused.value.code == "unsupported_change"


def test_credentials_do_not_print_their_secrets() -> None:
    credentials = GoogleAdsCredentials("dev-secret", "client", "client-secret", "refresh-secret")
    assert "secret" not in repr(credentials)


def test_a_customer_id_with_dashes_is_accepted_and_junk_is_not() -> None:
    credentials = GoogleAdsCredentials("d", "c", "s", "r")
    made = GoogleAdsConnector(credentials, "123-456-7890", time_zone="UTC", currency="EUR")
    assert made.customer_id == "1234567890"
    with pytest.raises(ValueError):
        GoogleAdsConnector(credentials, "customers/1", time_zone="UTC", currency="EUR")


def test_the_sdks_request_logs_which_carry_the_tokens_stay_off() -> None:
    import logging

    transport = logging.getLogger(
        "google.ads.googleads.v26.services.services.campaign_budget_service.transports"
    )
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert not transport.isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(level)
