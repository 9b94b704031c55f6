"""The sandbox ad platform's state: idempotent changes, refusals, the clock and reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.platform import PlatformError, SandboxPlatform
from shared.metrics import HourlyMetrics

START = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)
ACCOUNT = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def _platform(campaigns: int = 3, seed: int = 4, finished: int = 24) -> SandboxPlatform:
    platform = SandboxPlatform()
    platform.create_account(ACCOUNT, campaigns, seed, START)
    platform.finish_hours(ACCOUNT, finished)
    return platform


def _campaign(platform: SandboxPlatform, index: int) -> uuid.UUID:
    return platform.account(ACCOUNT).simulator.campaign_ids[index]


def _day_after(platform: SandboxPlatform, index: int) -> list[HourlyMetrics]:
    """The campaign's rows for the next 24 hours, finished now."""
    clock = platform.account(ACCOUNT).clock
    platform.finish_hours(ACCOUNT, 24)
    rows = platform.report(ACCOUNT, clock, clock + 24 * HOUR)
    return [r for r in rows if r.campaign_id == _campaign(platform, index)]


def _refusal(call: object) -> PlatformError:
    assert callable(call)
    with pytest.raises(PlatformError) as raised:
        call()
    return raised.value


def test_a_change_sent_twice_is_applied_once_and_answered_the_same() -> None:
    platform = _platform()
    target, change_id = _campaign(platform, 0), uuid.uuid4()
    first = platform.apply(ACCOUNT, target, change_id, "budget", 500.0)
    platform.finish_hours(ACCOUNT, 3)
    later = uuid.uuid4()
    platform.apply(ACCOUNT, target, later, "budget", 700.0)
    again = platform.apply(ACCOUNT, target, change_id, "budget", 500.0)
    assert first["replayed"] is False and again["replayed"] is True
    assert {**again, "replayed": False} == first
    assert first["effective_from"] == (START + 24 * HOUR).isoformat()
    # applied again, the replay would have put the budget back to 500
    assert platform.account(ACCOUNT).campaign(target).daily_budget == 700.0
    log = platform.account(ACCOUNT).changes
    assert list(log) == [change_id, later]
    assert (log[change_id].replays, log[later].replays) == (1, 0)


def test_a_change_id_reused_for_another_change_is_refused() -> None:
    platform = _platform()
    target, change_id = _campaign(platform, 0), uuid.uuid4()
    platform.apply(ACCOUNT, target, change_id, "budget", 500.0)
    for campaign, kind, value in [
        (target, "budget", 600.0),
        (target, "bid", 500.0),
        (_campaign(platform, 1), "budget", 500.0),
    ]:
        with pytest.raises(PlatformError) as raised:
            platform.apply(ACCOUNT, campaign, change_id, kind, value)
        assert (raised.value.status, raised.value.code) == (409, "change_id_reused")
    assert platform.account(ACCOUNT).campaign(target).daily_budget == 500.0
    assert platform.account(ACCOUNT).changes[change_id].replays == 0


@pytest.mark.parametrize("budget", [0.0, 0.5, 0.99])
def test_a_daily_budget_under_the_minimum_is_refused(budget: float) -> None:
    platform = _platform()
    target = _campaign(platform, 0)
    before = platform.account(ACCOUNT).campaign(target)
    error = _refusal(lambda: platform.apply(ACCOUNT, target, uuid.uuid4(), "budget", budget))
    assert (error.status, error.code) == (422, "budget_below_minimum")
    assert platform.account(ACCOUNT).campaign(target) == before
    assert not platform.account(ACCOUNT).changes


def test_the_minimum_budget_itself_is_accepted() -> None:
    platform = _platform()
    answer = platform.apply(ACCOUNT, _campaign(platform, 0), uuid.uuid4(), "budget", 1.0)
    assert answer["campaign"]["daily_budget"] == 1.0


@pytest.mark.parametrize(
    ("kind", "value"), [("bid", 0.0), ("status", "deleted"), ("colour", 1.0), ("bid", "high")]
)
def test_invalid_changes_are_refused(kind: str, value: object) -> None:
    platform = _platform()
    target = _campaign(platform, 0)
    error = _refusal(lambda: platform.apply(ACCOUNT, target, uuid.uuid4(), kind, value))
    assert (error.status, error.code) == (422, "invalid_change")


def test_unknown_accounts_and_campaigns_are_refused() -> None:
    platform = _platform()
    stranger = uuid.uuid4()
    error = _refusal(lambda: platform.apply(stranger, uuid.uuid4(), uuid.uuid4(), "bid", 1.2))
    assert (error.status, error.code) == (404, "unknown_account")
    error = _refusal(lambda: platform.apply(ACCOUNT, stranger, uuid.uuid4(), "bid", 1.2))
    assert (error.status, error.code) == (404, "unknown_campaign")
    error = _refusal(lambda: platform.create_account(ACCOUNT, 2, 1, START))
    assert (error.status, error.code) == (409, "account_exists")


def test_a_change_takes_effect_from_the_next_unfinished_hour() -> None:
    platform = _platform(finished=30)
    target = _campaign(platform, 1)
    reported = platform.report(ACCOUNT, START, START + 30 * HOUR)
    answer = platform.apply(ACCOUNT, target, uuid.uuid4(), "status", "paused")
    assert answer["effective_from"] == (START + 30 * HOUR).isoformat()
    assert answer["campaign"]["status"] == "paused"
    # finished hours never change
    assert platform.report(ACCOUNT, START, START + 30 * HOUR) == reported
    assert sum(r.spend for r in reported if r.campaign_id == target) > 0


def test_pausing_spends_nothing_from_the_next_hour() -> None:
    platform = _platform()
    platform.apply(ACCOUNT, _campaign(platform, 1), uuid.uuid4(), "status", "paused")
    paused = _day_after(platform, 1)
    assert len(paused) == 24
    assert all((r.spend, r.impressions, r.clicks) == (0.0, 0, 0) for r in paused)


def test_a_budget_cut_lowers_spend() -> None:
    reference, cut = _platform(), _platform()
    target = _campaign(cut, 0)
    budget = cut.account(ACCOUNT).campaign(target).daily_budget
    cut.apply(ACCOUNT, target, uuid.uuid4(), "budget", budget / 2)
    spent_cut = sum(r.spend for r in _day_after(cut, 0))
    spent_reference = sum(r.spend for r in _day_after(reference, 0))
    assert spent_cut < 0.6 * spent_reference
    assert spent_cut <= budget / 2


def test_a_higher_bid_raises_cost_per_click_and_volume() -> None:
    reference, raised = _platform(), _platform()
    raised.apply(ACCOUNT, _campaign(raised, 2), uuid.uuid4(), "bid", 2.0)
    # a budget too large to cap delivery, so the bid alone decides volume
    for platform in (reference, raised):
        platform.apply(ACCOUNT, _campaign(platform, 2), uuid.uuid4(), "budget", 1_000_000.0)
    high, base = _day_after(raised, 2), _day_after(reference, 2)

    def cpc(rows: list[HourlyMetrics]) -> float:
        return sum(r.spend for r in rows) / sum(r.clicks for r in rows)

    assert cpc(high) > 1.2 * cpc(base)
    assert sum(r.impressions for r in high) > sum(r.impressions for r in base)


def test_reports_cover_only_finished_hours() -> None:
    platform = _platform(campaigns=2, finished=5)
    rows = platform.report(ACCOUNT, START - 10 * HOUR, START + 48 * HOUR)
    assert sorted({r.hour for r in rows}) == [START + i * HOUR for i in range(5)]
    assert len(rows) == 2 * 5
    assert platform.report(ACCOUNT, START + 5 * HOUR, START + 9 * HOUR) == []


def test_campaigns_carry_their_audiences() -> None:
    platform = _platform()
    for state in platform.account(ACCOUNT).campaigns():
        assert state.audiences
