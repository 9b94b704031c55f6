"""Benchmark tiers against full and partial percentiles, for metrics where higher or
lower is better, and the percentiles and metrics they are computed from."""

from __future__ import annotations

import json
from uuid import uuid4

import numpy as np
import pytest

from services.optimizer.benchmarks.compare import applicable, comparisons
from services.optimizer.benchmarks.percentiles import (
    Totals,
    by_metric,
    metric_values,
    percentiles,
    pooled_percentiles,
)
from services.optimizer.benchmarks.runner import account_values, own_history_rows, peer_rows
from services.optimizer.benchmarks.store import SEED_FILE, seed_rows
from services.optimizer.benchmarks.tiers import tier
from shared.contracts.benchmarks import (
    INDUSTRIES,
    MIN_PEER_TENANTS,
    BenchmarkCreate,
    percentile_problems,
)

FULL = {10: 0.02, 25: 0.03, 50: 0.05, 75: 0.07, 90: 0.10}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.01, "below_10"),
        (0.02, "10_25"),  # equal to the 10th percentile: reached it
        (0.029, "10_25"),
        (0.04, "25_50"),
        (0.06, "50_75"),
        (0.08, "75_90"),
        (0.10, "90_plus"),
        (0.50, "90_plus"),
    ],
)
def test_higher_is_better_bands_with_every_percentile(value: float, expected: str) -> None:
    found = tier("ctr", value, FULL)
    assert found is not None and found.name == expected
    assert found.decided_by == (10, 25, 50, 75, 90)


COSTS = {10: 1.0, 25: 2.0, 50: 3.0, 75: 4.0, 90: 6.0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, "90_plus"),  # cheaper than 90% of the benchmark
        (1.0, "90_plus"),  # at the 10th percentile of costs: as good as the best tenth
        (1.5, "75_90"),
        (2.5, "50_75"),
        (3.5, "25_50"),
        (5.0, "10_25"),
        (6.0, "10_25"),
        (9.0, "below_10"),
    ],
)
def test_lower_is_better_bands_are_turned_around(value: float, expected: str) -> None:
    for metric in ("cpc", "cpl", "cpa"):
        found = tier(metric, value, COSTS)
        assert found is not None and found.name == expected, metric


def test_a_median_alone_decides_only_above_or_below_half() -> None:
    median = {10: None, 25: None, 50: 0.05, 75: None, 90: None}
    assert tier("ctr", 0.04, median).name == "below_50"  # type: ignore[union-attr]
    assert tier("ctr", 0.06, median).name == "50_plus"  # type: ignore[union-attr]
    assert tier("ctr", 0.06, median).decided_by == (50,)  # type: ignore[union-attr]
    # A cost above the median performs worse than half.
    assert tier("cpc", 4.0, {50: 3.0}).name == "below_50"  # type: ignore[union-attr]
    assert tier("cpc", 2.0, {50: 3.0}).name == "50_plus"  # type: ignore[union-attr]


def test_partial_percentiles_give_the_narrowest_band_they_decide() -> None:
    quartiles = {25: 0.03, 75: 0.07}
    assert tier("ctr", 0.02, quartiles).name == "below_25"  # type: ignore[union-attr]
    assert tier("ctr", 0.05, quartiles).name == "25_75"  # type: ignore[union-attr]
    assert tier("ctr", 0.09, quartiles).name == "75_plus"  # type: ignore[union-attr]
    assert tier("cpc", 5.0, {10: 1.0, 50: 3.0}).name == "below_50"  # type: ignore[union-attr]
    assert tier("cpc", 2.0, {10: 1.0, 50: 3.0}).name == "50_90"  # type: ignore[union-attr]
    assert tier("ctr", 0.05, {}) is None
    assert tier("ctr", 0.05, {50: None}) is None


def test_percentiles_match_known_answers() -> None:
    # numpy's linear method (type 7): for 1..10, position (n - 1) p.
    found = percentiles([float(v) for v in range(10, 0, -1)])
    assert found == pytest.approx({10: 1.9, 25: 3.25, 50: 5.5, 75: 7.75, 90: 9.1})
    assert percentiles([4.0]) == {10: 4.0, 25: 4.0, 50: 4.0, 75: 4.0, 90: 4.0}
    # Five values 0, 10, 20, 30, 100: p90 at position 3.6 = 30 + 0.6 * 70.
    assert percentiles([0.0, 10.0, 20.0, 30.0, 100.0])[90] == pytest.approx(72.0)
    with pytest.raises(ValueError):
        percentiles([])


def test_pooled_percentiles_are_harrell_davis_estimates() -> None:
    # The estimator's definition: a mean of the order statistics weighted by the
    # Beta(q (n + 1), (1 - q)(n + 1)) mass of each one's slice of [0, 1].
    from scipy.stats import beta

    rng = np.random.default_rng(4)
    values = sorted(float(v) for v in rng.lognormal(0.0, 0.5, 11))
    n = len(values)
    found = pooled_percentiles(values)
    for p, estimate in found.items():
        q = p / 100
        edges = beta.cdf(np.arange(n + 1) / n, q * (n + 1), (1 - q) * (n + 1))
        assert estimate == pytest.approx(float(np.dot(np.diff(edges), values)), rel=1e-9)
        # a weighted mean of all eleven: no tenant's own value
        assert min(abs(estimate - v) for v in values) > 1e-6
    with pytest.raises(ValueError):
        pooled_percentiles([])


def test_metrics_are_ratios_of_totals_and_none_without_a_denominator() -> None:
    values = metric_values(Totals(impressions=1000, clicks=50, conversions=5, spend=100.0))
    assert values == pytest.approx({"ctr": 0.05, "cvr": 0.1, "cpc": 2.0, "cpl": 20.0, "cpa": 20.0})
    empty = metric_values(Totals(impressions=0, clicks=0, conversions=0, spend=0.0))
    assert set(empty.values()) == {None}
    # An account is its campaigns' totals together, not the mean of their ratios.
    whole = account_values({uuid4(): Totals(100, 10, 1, 10.0), uuid4(): Totals(900, 10, 1, 30.0)})
    assert whole["ctr"] == pytest.approx(20 / 1000)
    assert whole["cpc"] == pytest.approx(2.0)
    assert by_metric([{"ctr": 0.1, "cpc": None}, {"ctr": 0.2, "cpc": 1.0}]) == {
        "ctr": [0.1, 0.2],
        "cpc": [1.0],
    }


def test_peer_rows_need_ten_tenants_and_hold_no_tenants_value() -> None:
    contributions = [{"ctr": 0.01 * (i + 1), "cpc": None} for i in range(MIN_PEER_TENANTS)]
    assert peer_rows("travel", contributions[:-1]) == []
    (row,) = peer_rows("travel", contributions)
    assert row["metric"] == "ctr" and row["sample_size"] == MIN_PEER_TENANTS
    stored = {row[f"p{p}"] for p in (10, 25, 50, 75, 90)}
    assert not stored & {c["ctr"] for c in contributions}
    assert set(row) & {"min", "max", "mean", "tenant_id"} == set()


def test_own_history_needs_five_campaigns() -> None:
    from datetime import UTC, datetime

    as_of = datetime(2026, 5, 1, tzinfo=UTC)
    four = {uuid4(): Totals(1000, 10 * (i + 1), 1, 10.0) for i in range(4)}
    assert own_history_rows(four, "travel", as_of) == []
    five = {**four, uuid4(): Totals(1000, 50, 0, 10.0)}
    rows = {r["metric"]: r for r in own_history_rows(five, "travel", as_of)}
    # Five campaigns have a CTR; one has no conversions, so CPL has only four.
    assert set(rows) == {"ctr", "cpc", "cvr"}
    assert rows["ctr"]["p50"] == pytest.approx(0.03)
    assert rows["ctr"]["period_end"].isoformat() == "2026-05-01"


def _bench(**extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid4(),
        "source_kind": "published",
        "source": "S",
        "metric": "ctr",
        "platform": "search",
        "industry": "all",
        "period_end": None,
        "edition": "2023",
        "created_at": 0,
        **{f"p{p}": None for p in (10, 25, 75, 90)},
        "p50": 0.05,
    }
    row.update(extra)
    return row


def test_the_industrys_newest_benchmark_is_chosen_and_compared() -> None:
    rows = [
        _bench(edition="2023"),
        _bench(edition="2024"),
        _bench(industry="travel", edition="2022", p50=0.1),
        _bench(industry="furniture", edition="2025"),
        _bench(metric="cpc", p50=2.0),
    ]
    chosen = applicable(rows, "travel")
    assert [(r["metric"], r["industry"], r["edition"]) for r in chosen] == [
        ("cpc", "all", "2023"),
        ("ctr", "travel", "2022"),
    ]
    assert [r["edition"] for r in applicable(rows, None) if r["metric"] == "ctr"] == ["2024"]
    found = comparisons({"ctr": 0.2, "cpc": 3.0}, chosen)
    assert [(f["metric"], f["tier"], f["higher_is_better"]) for f in found] == [
        ("cpc", "below_50", False),
        ("ctr", "50_plus", True),
    ]
    assert comparisons({"ctr": None}, chosen[1:])[0]["tier"] is None


def test_percentile_problems_name_the_field() -> None:
    assert percentile_problems({})[0]["field"] == "p50"
    assert [p["field"] for p in percentile_problems({"p25": 3.0, "p75": 2.0})] == ["p75"]
    assert percentile_problems({"p10": 1.0, "p90": 2.0}) == []


def test_the_seed_set_cites_every_figure_and_fits_the_contract() -> None:
    rows = seed_rows()
    assert len(rows) >= 50
    assert len({r["key"] for r in rows}) == len(rows)
    for row in rows:
        assert row["url"].startswith("https://") and row["source"] and row["edition"], row
        assert row["industry"] in INDUSTRIES, row
        # Published averages are medians only: nothing else is made up.
        assert set(row) & {"p10", "p25", "p75", "p90"} == set(), row
        body = {k: row[k] for k in BenchmarkCreate.model_fields if k in row}
        BenchmarkCreate.model_validate({**body, "p50": row["p50"]})
        if row["metric"] in ("ctr", "cvr"):
            assert 0 < row["p50"] < 1, row  # fractions, not percents
    assert json.loads(SEED_FILE.read_text())["about"]
