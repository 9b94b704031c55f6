"""Experiments as plain data, and ad-copy experiments on the simulator and the sandbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.platform import PlatformError, SandboxPlatform
from sandbox.simulator import AdCopy, CampaignSimulator, CopyTest, campaign_id_for
from services.optimizer.experiments import plan
from shared.connectors.base import Change

START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
NAMES = ["control", "B"]


def entry(name: str, users: int = 100, **extra: object) -> dict[str, object]:
    return {"name": name, "users": users, **extra}


def problems(submitted: list[dict[str, object]], metric: str = "rate") -> set[str]:
    with pytest.raises(plan.ResultsInvalid) as caught:
        plan.variant_data(submitted, NAMES, metric)
    return {f["field"] for f in caught.value.fields}


def test_results_come_back_in_the_experiments_order() -> None:
    data = plan.variant_data(
        [entry("B", 90, conversions=9), entry("control", 100, conversions=5)], NAMES, "rate"
    )
    assert [(v.name, v.users, v.conversions) for v in data] == [("control", 100, 5), ("B", 90, 9)]


def test_results_that_do_not_fit_name_each_field() -> None:
    assert problems([entry("control", conversions=1), entry("C", conversions=1)]) == {
        "variants.1.name",
        "variants",  # B is missing
    }
    assert problems([entry("control", conversions=1), entry("control", conversions=1)]) == {
        "variants.1.name",
        "variants",
    }
    assert problems([entry("control", sum=1.0, sum_squares=2.0), entry("B", conversions=1)]) == {
        "variants.0.conversions",
        "variants.0.sum",
        "variants.0.sum_squares",
    }
    assert problems([entry("control", conversions=1), entry("B", sum=1.0)], "mean") == {
        "variants.0.sum",
        "variants.0.sum_squares",
        "variants.0.conversions",
        "variants.1.sum_squares",
    }
    cuped = {"pre_sum": 1.0, "pre_sum_squares": 1.0, "cross_sum": 1.0}
    assert problems([entry("control", conversions=1, **cuped), entry("B", conversions=1)]) == {
        "variants"
    }


def analysis(winner: str | None, p: float = 0.01) -> dict[str, object]:
    return {
        "look": 3,
        "winner_variant": winner,
        "variants": [{"name": "control"}, {"name": "B", "p_value": p, "p_value_adjusted": p}],
    }


def test_the_rule_concludes_on_a_winner_first_then_the_planned_sample() -> None:
    won = plan.auto_conclusion(analysis("B"), sample_in=True, platform_ended=True)
    assert won is not None and (won.rule, won.winner) == ("winner", "B")
    full = plan.auto_conclusion(analysis(None), sample_in=True, platform_ended=False)
    assert full is not None and (full.rule, full.winner) == ("planned_sample", None)
    ended = plan.auto_conclusion(analysis(None), sample_in=False, platform_ended=True)
    assert ended is not None and ended.rule == "platform_ended"
    assert plan.auto_conclusion(analysis(None), sample_in=False, platform_ended=False) is None


def test_confidence_is_one_minus_the_winners_adjusted_p_value() -> None:
    assert plan.winner_confidence(analysis("B", 0.012), "B") == pytest.approx(98.8)
    assert plan.winner_confidence(analysis("B"), None) is None


def test_an_uneven_split_takes_longer_to_fill() -> None:
    values = {
        "variant_configs": [{"name": "control"}, {"name": "B"}],
        "statistical_significance_threshold": 0.95,
        "metric_kind": "rate",
        "baseline_value": 0.05,
        "minimum_detectable_effect": 0.1,
        "mde_kind": "relative",
        "power": 0.8,
        "daily_traffic": 2000.0,
    }
    even = plan.sample_plan({**values, "traffic_split": [0.5, 0.5]})
    uneven = plan.sample_plan({**values, "traffic_split": [0.8, 0.2]})
    assert even["users_per_variant"] == uneven["users_per_variant"]
    assert uneven["days"] > even["days"]


# --- the simulator and the sandbox ---------------------------------------------------


def copy_test(sim: CampaignSimulator, experiment: uuid.UUID | None = None) -> CopyTest:
    return CopyTest(
        experiment or uuid.uuid4(),
        sim.campaign_ids[0],
        (AdCopy("control", 0.03), AdCopy("B", 0.05)),
        (1.0, 1.0),
        START + 24 * HOUR,
    )


def totals(sim: CampaignSimulator, hours: range) -> list[tuple[int, int]]:
    sums = [(0, 0), (0, 0)]
    for h in hours:
        arms = sim.copy_counts(sim.campaign_ids[0], START + h * HOUR) or ()
        sums = [(u + a[1], c + a[2]) for (u, c), a in zip(sums, arms, strict=True)]
    return sums


def test_a_copy_test_splits_clicks_and_converts_at_each_copys_true_rate() -> None:
    sim = CampaignSimulator(3, 11, START)
    sim.start_copy_test(copy_test(sim))
    (users_a, conv_a), (users_b, conv_b) = totals(sim, range(24, 24 * 8))
    assert users_a == pytest.approx(users_b, rel=0.05)
    assert conv_a / users_a == pytest.approx(0.03, rel=0.15)
    assert conv_b / users_b == pytest.approx(0.05, rel=0.15)
    row = next(
        r for r in sim.simulate_hour(START + 30 * HOUR) if r.campaign_id == sim.campaign_ids[0]
    )
    arms = sim.copy_counts(sim.campaign_ids[0], START + 30 * HOUR)
    assert arms is not None
    assert sum(a[1] for a in arms) == row.clicks and sum(a[2] for a in arms) == row.conversions


def test_copy_tests_are_seeded_and_leave_everything_else_as_it_was() -> None:
    plain = CampaignSimulator(3, 11, START)
    first, second = CampaignSimulator(3, 11, START), CampaignSimulator(3, 11, START)
    for sim in (first, second):
        sim.start_copy_test(copy_test(sim, uuid.UUID(int=1)))
    assert totals(first, range(24, 72)) == totals(second, range(24, 72))
    for h in range(0, 72):
        hour = START + h * HOUR
        before, after = plain.simulate_hour(hour), first.simulate_hour(hour)
        # Other campaigns, and every hour before the test, are untouched.
        assert before[1:] == after[1:]
        if h < 24:
            assert before[0] == after[0]
        else:
            assert (before[0].impressions, before[0].clicks) == (
                after[0].impressions,
                after[0].clicks,
            )


def test_choosing_a_copy_ends_the_split_and_sets_the_rate() -> None:
    sim = CampaignSimulator(1, 5, START)
    campaign = sim.campaign_ids[0]
    sim.start_copy_test(copy_test(sim))
    assert sim.state_at(campaign, START).creative is None
    assert sim.state_at(campaign, START + 30 * HOUR).creative == "control"
    with pytest.raises(ValueError):
        sim.apply_change_at(campaign, Change("creative", "Z"), START + 48 * HOUR)
    sim.apply_change_at(campaign, Change("creative", "B"), START + 48 * HOUR)
    assert sim.copy_counts(campaign, START + 47 * HOUR) is not None
    assert sim.copy_counts(campaign, START + 48 * HOUR) is None
    rows = [r for h in range(48, 48 + 24 * 7) for r in sim.simulate_hour(START + h * HOUR)]
    rate = sum(r.conversions for r in rows) / sum(r.clicks for r in rows)
    assert rate == pytest.approx(0.05, rel=0.15)


def test_the_sandbox_starts_an_experiment_once_per_id_and_one_at_a_time() -> None:
    platform = SandboxPlatform()
    account = uuid.uuid4()
    platform.create_account(account, 2, 9, START)
    campaign = campaign_id_for(9, 0)
    copies = [AdCopy("control", 0.03), AdCopy("B", 0.04)]
    experiment = uuid.uuid4()
    first = platform.start_experiment(account, campaign, experiment, copies, None)
    assert platform.start_experiment(account, campaign, experiment, copies, None) == first
    with pytest.raises(PlatformError) as reused:
        platform.start_experiment(account, campaign, experiment, copies, [0.9, 0.1])
    assert reused.value.code == "experiment_id_reused"
    with pytest.raises(PlatformError) as busy:
        platform.start_experiment(account, campaign, uuid.uuid4(), copies, None)
    assert busy.value.code == "experiment_running"
    with pytest.raises(PlatformError) as unknown:
        platform.apply(account, campaign, uuid.uuid4(), "creative", "Z")
    assert unknown.value.code == "unknown_creative"
    platform.finish_hours(account, 12)
    counted = platform.experiment(account, campaign, experiment)
    assert counted["status"] == "running"
    assert sum(v["users"] for v in counted["variants"]) > 0
    # Counting again gives the same totals: finished hours are counted once.
    assert platform.experiment(account, campaign, experiment) == counted
    platform.apply(account, campaign, uuid.uuid4(), "creative", "B")
    platform.finish_hours(account, 12)
    ended = platform.experiment(account, campaign, experiment)
    assert ended["status"] == "ended"
    assert ended["variants"] == counted["variants"]
