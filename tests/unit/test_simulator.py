"""The campaign simulator: determinism, realism and anomaly injection."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.simulator import (
    ANOMALY_KINDS,
    AUDIENCE_NAMES,
    DEFAULT_WARMUP_HOURS,
    CampaignSimulator,
    InjectedAnomaly,
    random_schedule,
)
from shared.connectors import Change, InvalidChange, UnknownCampaign
from shared.metrics import HourlyMetrics

START = datetime(2025, 3, 3, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _day(sim: CampaignSimulator, day: int) -> list[list[HourlyMetrics]]:
    return sim.simulate_range(START + day * 24 * HOUR, 24)


def _campaign_total(rows: list[list[HourlyMetrics]], index: int, field: str) -> float:
    return sum(getattr(hour[index], field) for hour in rows)


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_output() -> None:
    first = CampaignSimulator(5, seed=7, start=START)
    second = CampaignSimulator(5, seed=7, start=START)
    assert first.campaign_ids == second.campaign_ids
    assert first.simulate_range(START, 48) == second.simulate_range(START, 48)


def test_different_seeds_give_different_campaigns_and_metrics() -> None:
    first = CampaignSimulator(5, seed=7, start=START)
    second = CampaignSimulator(5, seed=8, start=START)
    assert set(first.campaign_ids).isdisjoint(second.campaign_ids)
    spend_first = [row.spend for row in first.simulate_hour(START + 14 * HOUR)]
    spend_second = [row.spend for row in second.simulate_hour(START + 14 * HOUR)]
    assert spend_first != spend_second


def test_an_hour_does_not_depend_on_which_hours_came_before() -> None:
    target = START + 50 * HOUR
    fresh = CampaignSimulator(4, seed=3, start=START).simulate_hour(target)
    busy = CampaignSimulator(4, seed=3, start=START)
    busy.simulate_range(START + 60 * HOUR, 30)  # later hours first
    busy.simulate_range(START, 50)
    assert busy.simulate_hour(target) == fresh


def test_rejects_naive_or_unaligned_hours() -> None:
    sim = CampaignSimulator(1, seed=1, start=START)
    with pytest.raises(ValueError):
        sim.simulate_hour(datetime(2025, 3, 3, 10))
    with pytest.raises(ValueError):
        sim.simulate_hour(START + timedelta(minutes=30))


# -------------------------------------------------------------------- realism


def test_traffic_follows_a_daily_cycle() -> None:
    sim = CampaignSimulator(6, seed=11, start=START)
    rows = sim.simulate_range(START, 24 * 3)
    for index in range(6):
        by_hour_of_day = [0.0] * 24
        for hour in rows:
            by_hour_of_day[hour[index].hour.hour] += hour[index].impressions
        # nights are quiet, afternoons busy
        assert max(by_hour_of_day) > 2.0 * min(by_hour_of_day)
        profile = sim.daily_profile(sim.campaign_ids[index])
        assert sum(profile) == pytest.approx(1.0)
        assert by_hour_of_day.index(max(by_hour_of_day)) in range(10, 21)


def test_normal_days_spend_close_to_but_not_above_the_budget() -> None:
    sim = CampaignSimulator(10, seed=5, start=START)
    rows = _day(sim, 1)
    for index in range(10):
        spent = _campaign_total(rows, index, "spend")
        budget = rows[0][index].budget
        assert 0.85 * budget < spent <= budget


def test_doubling_the_budget_buys_less_than_double_the_results() -> None:
    baseline = CampaignSimulator(8, seed=21, start=START)
    doubled = CampaignSimulator(8, seed=21, start=START)
    for campaign_id in doubled.campaign_ids:
        budget = doubled.state_at(campaign_id, START).daily_budget
        doubled.apply_change_at(campaign_id, Change("budget", 2 * budget), START)
    before, after = _day(baseline, 1), _day(doubled, 1)
    spend = sum(_campaign_total(after, i, "spend") for i in range(8)) / sum(
        _campaign_total(before, i, "spend") for i in range(8)
    )
    impressions = sum(_campaign_total(after, i, "impressions") for i in range(8)) / sum(
        _campaign_total(before, i, "impressions") for i in range(8)
    )
    conversions = sum(_campaign_total(after, i, "conversions") for i in range(8)) / sum(
        _campaign_total(before, i, "conversions") for i in range(8)
    )
    assert spend == pytest.approx(2.0, rel=0.02)
    assert 1.0 < impressions < 1.8
    assert 1.0 < conversions < 2.0


def test_pausing_stops_all_delivery_from_the_change_on() -> None:
    sim = CampaignSimulator(3, seed=4, start=START)
    reference = CampaignSimulator(3, seed=4, start=START)
    paused_from = START + 30 * HOUR
    target = sim.campaign_ids[1]
    state = sim.apply_change_at(target, Change("status", "paused"), paused_from)
    assert state.status == "paused"
    for step in range(48):
        hour = START + step * HOUR
        rows, expected = sim.simulate_hour(hour), reference.simulate_hour(hour)
        if hour < paused_from:
            assert rows == expected
            continue
        paused = rows[1]
        assert (paused.impressions, paused.clicks, paused.conversions) == (0, 0, 0)
        assert paused.spend == 0.0 and paused.revenue == 0.0
        assert rows[0] == expected[0] and rows[2] == expected[2]


def test_higher_bid_raises_cost_per_click() -> None:
    sim = CampaignSimulator(2, seed=9, start=START)
    reference = CampaignSimulator(2, seed=9, start=START)
    target = sim.campaign_ids[0]
    sim.apply_change_at(target, Change("bid", 2.0), START)
    day_bid, day_ref = _day(sim, 1), _day(reference, 1)
    cpc_bid = _campaign_total(day_bid, 0, "spend") / _campaign_total(day_bid, 0, "clicks")
    cpc_ref = _campaign_total(day_ref, 0, "spend") / _campaign_total(day_ref, 0, "clicks")
    assert cpc_bid > 1.2 * cpc_ref


def test_low_bid_caps_delivery_below_the_budget() -> None:
    sim = CampaignSimulator(2, seed=9, start=START)
    sim.apply_change_at(sim.campaign_ids[0], Change("bid", 0.2), START)
    rows = _day(sim, 1)
    assert _campaign_total(rows, 0, "spend") < 0.6 * rows[0][0].budget


def test_wider_audience_brings_more_impressions_at_a_lower_ctr() -> None:
    sim = CampaignSimulator(2, seed=10, start=START)
    reference = CampaignSimulator(2, seed=10, start=START)
    sim.apply_change_at(sim.campaign_ids[0], Change("audience", 2.0), START)
    wide, ref = _day(sim, 1), _day(reference, 1)
    assert _campaign_total(wide, 0, "impressions") > 1.1 * _campaign_total(ref, 0, "impressions")
    ctr_wide = _campaign_total(wide, 0, "clicks") / _campaign_total(wide, 0, "impressions")
    ctr_ref = _campaign_total(ref, 0, "clicks") / _campaign_total(ref, 0, "impressions")
    assert ctr_wide < 0.95 * ctr_ref


def test_a_range_is_one_row_per_campaign_and_hour() -> None:
    # How fast this runs is measured in bench/, not asserted here.
    sim = CampaignSimulator(20, seed=1, start=START)
    rows = sim.simulate_range(START, 24 * 14)
    assert len(rows) == 24 * 14 and all(len(hour) == 20 for hour in rows)


# ------------------------------------------------------------------ anomalies


def _with_anomaly(
    kind: str, magnitude: float, hours: int = 4
) -> tuple[CampaignSimulator, CampaignSimulator, InjectedAnomaly]:
    reference = CampaignSimulator(3, seed=2, start=START)
    anomaly = InjectedAnomaly(
        campaign_id=reference.campaign_ids[1],
        kind=kind,  # type: ignore[arg-type]
        start_hour=START + (8 * 24 + 12) * HOUR,
        end_hour=START + (8 * 24 + 12 + hours) * HOUR,
        magnitude=magnitude,
    )
    return CampaignSimulator(3, seed=2, start=START, anomalies=[anomaly]), reference, anomaly


def _hours_around(anomaly: InjectedAnomaly) -> list[datetime]:
    return [anomaly.start_hour + offset * HOUR for offset in range(-2, anomaly.hours + 2)]


def test_spend_spike_multiplies_spend_only_inside_its_window() -> None:
    sim, reference, anomaly = _with_anomaly("spend_spike", 3.0)
    assert sim.ground_truth == [anomaly]
    for hour in _hours_around(anomaly):
        spiked, normal = sim.simulate_hour(hour)[1], reference.simulate_hour(hour)[1]
        if anomaly.covers(hour):
            assert spiked.spend == pytest.approx(3.0 * normal.spend, abs=0.05)
            # the extra spend buys less than three times the traffic
            assert normal.impressions < spiked.impressions < 3.0 * normal.impressions
        else:
            assert spiked == normal


def test_conversion_drop_cuts_conversions_but_not_traffic() -> None:
    sim, reference, anomaly = _with_anomaly("conversion_drop", 0.2)
    hours = [anomaly.start_hour + i * HOUR for i in range(anomaly.hours)]
    dropped = [sim.simulate_hour(h)[1] for h in hours]
    normal = [reference.simulate_hour(h)[1] for h in hours]
    assert [r.clicks for r in dropped] == [r.clicks for r in normal]
    assert sum(r.conversions for r in dropped) < 0.4 * sum(r.conversions for r in normal)


def test_tracking_outage_zeroes_reporting_while_traffic_continues() -> None:
    sim, reference, anomaly = _with_anomaly("tracking_outage", 0.0)
    for hour in _hours_around(anomaly):
        row, normal = sim.simulate_hour(hour)[1], reference.simulate_hour(hour)[1]
        if anomaly.covers(hour):
            assert (row.clicks, row.conversions, row.revenue) == (0, 0, 0.0)
            assert row.impressions == normal.impressions > 0
            assert row.spend == normal.spend > 0
        else:
            assert row == normal


def test_cpc_jump_buys_fewer_clicks_for_the_same_spend() -> None:
    sim, reference, anomaly = _with_anomaly("cpc_jump", 2.5)
    hours = [anomaly.start_hour + i * HOUR for i in range(anomaly.hours)]
    jumped = [sim.simulate_hour(h)[1] for h in hours]
    normal = [reference.simulate_hour(h)[1] for h in hours]
    assert [r.spend for r in jumped] == [r.spend for r in normal]
    cpc_jumped = sum(r.spend for r in jumped) / sum(r.clicks for r in jumped)
    cpc_normal = sum(r.spend for r in normal) / sum(r.clicks for r in normal)
    assert 2.0 < cpc_jumped / cpc_normal < 3.1


def test_anomaly_rejects_bad_definitions() -> None:
    sim = CampaignSimulator(1, seed=1, start=START)
    with pytest.raises(ValueError):
        InjectedAnomaly(sim.campaign_ids[0], "meteor", START, START + HOUR, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InjectedAnomaly(sim.campaign_ids[0], "spend_spike", START + HOUR, START, 3.0)
    with pytest.raises(UnknownCampaign):
        sim.inject(
            InjectedAnomaly(
                CampaignSimulator(1, 2, START).campaign_ids[0],
                "spend_spike",
                START,
                START + HOUR,
                3.0,
            )
        )


def test_random_schedule_is_seeded_spaced_and_after_the_warmup() -> None:
    sim = CampaignSimulator(10, seed=3, start=START)
    hours = 24 * 14
    schedule = random_schedule(sim.campaign_ids, START, hours, seed=3, count=20)
    assert schedule == random_schedule(sim.campaign_ids, START, hours, seed=3, count=20)
    assert schedule != random_schedule(sim.campaign_ids, START, hours, seed=4, count=20)
    assert len(schedule) == 20
    assert {a.kind for a in schedule} == set(ANOMALY_KINDS)
    for anomaly in schedule:
        assert anomaly.start_hour >= START + DEFAULT_WARMUP_HOURS * HOUR
        assert anomaly.end_hour <= START + hours * HOUR
        assert 3 <= anomaly.hours <= 8
    for campaign_id in sim.campaign_ids:
        mine = sorted(
            (a for a in schedule if a.campaign_id == campaign_id), key=lambda a: a.start_hour
        )
        for earlier, later in itertools.pairwise(mine):
            assert later.start_hour >= earlier.end_hour + 24 * HOUR


def test_random_schedule_refuses_what_cannot_fit() -> None:
    sim = CampaignSimulator(1, seed=3, start=START)
    with pytest.raises(ValueError):
        random_schedule(sim.campaign_ids, START, 24 * 8, seed=1, count=5)
    with pytest.raises(ValueError):
        random_schedule(sim.campaign_ids, START, 24 * 5, seed=1, count=1)


# ------------------------------------------------------------------- settings


def test_changes_hold_from_their_hour_and_leave_earlier_hours_alone() -> None:
    sim = CampaignSimulator(2, seed=6, start=START)
    target = sim.campaign_ids[0]
    first, second = sim.simulate_hour(START), sim.simulate_hour(START + HOUR)
    state = sim.apply_change_at(target, Change("status", "paused"), START + 2 * HOUR)
    assert state.status == "paused"
    assert sim.state_at(target, START + HOUR).status == "active"
    assert sim.simulate_hour(START) == first
    assert sim.simulate_hour(START + HOUR) == second
    third = sim.simulate_hour(START + 2 * HOUR)
    assert third[0].spend == 0.0 and third[1].spend > 0.0


def test_unknown_campaigns_are_refused() -> None:
    sim = CampaignSimulator(1, seed=6, start=START)
    stranger = CampaignSimulator(1, seed=99, start=START).campaign_ids[0]
    with pytest.raises(UnknownCampaign):
        sim.state_at(stranger, START)
    with pytest.raises(UnknownCampaign):
        sim.apply_change_at(stranger, Change("budget", 100.0), START)


def test_every_campaign_targets_a_few_seeded_audiences() -> None:
    sim = CampaignSimulator(6, seed=6, start=START)
    again = CampaignSimulator(6, seed=6, start=START)
    audiences = [sim.state_at(cid, START).audiences for cid in sim.campaign_ids]
    assert audiences == [again.state_at(cid, START).audiences for cid in again.campaign_ids]
    for named in audiences:
        assert 2 <= len(named) <= 4
        assert len(set(named)) == len(named)
        assert set(named) <= set(AUDIENCE_NAMES)
    assert len(set(audiences)) > 1


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("budget", -1.0),
        ("budget", float("nan")),
        ("bid", 0.0),
        ("bid", "high"),
        ("audience", -0.5),
        ("status", "deleted"),
        ("colour", 1.0),
        ("budget", True),
    ],
)
def test_invalid_changes_are_rejected(kind: str, value: object) -> None:
    with pytest.raises(InvalidChange) as raised:
        Change(kind, value)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)


def test_valid_change_updates_only_its_field() -> None:
    sim = CampaignSimulator(1, seed=6, start=START)
    target = sim.campaign_ids[0]
    before = sim.state_at(target, START)
    after = sim.apply_change_at(target, Change("bid", 1.5), START + 5 * HOUR)
    assert after.bid_multiplier == 1.5
    assert (after.daily_budget, after.status, after.audience_factor) == (
        before.daily_budget,
        before.status,
        before.audience_factor,
    )
    assert sim.state_at(target, START + 4 * HOUR) == before
