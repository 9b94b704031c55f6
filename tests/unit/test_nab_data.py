"""NAB series as campaign rows, and alerts scored against labelled windows: no servers."""

from __future__ import annotations

import io
import json
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.nab import batches
from bench.nab_data import (
    NAB_CLICKS,
    NAB_CONVERSIONS,
    NAB_IMPRESSIONS,
    NabSeries,
    campaign_id_of,
    load_nab,
    metric_rows,
    parse_hour,
    read_prices,
    score_nab,
    series_label,
)

HOUR = timedelta(hours=1)
T0 = datetime(2011, 7, 1, tzinfo=UTC)


def _csv(*lines: str) -> io.StringIO:
    return io.StringIO("timestamp,value\n" + "\n".join(lines) + "\n")


def test_timestamps_floor_to_their_hour_in_utc() -> None:
    assert parse_hour("2011-07-01 13:15:01") == datetime(2011, 7, 1, 13, tzinfo=UTC)
    assert parse_hour("2011-07-01 13:00:01") == datetime(2011, 7, 1, 13, tzinfo=UTC)
    assert parse_hour("2011-08-16 10:15:01.000000") == datetime(2011, 8, 16, 10, tzinfo=UTC)


def test_a_repeated_hour_keeps_the_later_value() -> None:
    prices = read_prices(
        _csv("2011-08-24 11:00:01,0.5", "2011-08-24 12:00:01,0.7", "2011-08-24 12:00:01,0.9")
    )
    assert prices == {
        datetime(2011, 8, 24, 11, tzinfo=UTC): 0.5,
        datetime(2011, 8, 24, 12, tzinfo=UTC): 0.9,
    }


def test_quarter_past_readings_land_on_distinct_hours() -> None:
    prices = read_prices(_csv("2011-07-01 00:15:01,1.0", "2011-07-01 01:15:01,2.0"))
    assert list(prices) == [T0, T0 + HOUR]


def test_cpc_rows_spend_price_times_clicks_and_earn_four_times_that() -> None:
    campaign = campaign_id_of("x_cpc_results.csv")
    rows = metric_rows(campaign, {T0 + HOUR: 0.2, T0: 0.1}, per_thousand=False)
    assert [r.hour for r in rows] == [T0, T0 + HOUR]
    for row, price in zip(rows, (0.1, 0.2), strict=True):
        assert row.campaign_id == campaign
        assert (row.impressions, row.clicks, row.conversions) == (
            NAB_IMPRESSIONS,
            NAB_CLICKS,
            NAB_CONVERSIONS,
        )
        assert row.spend == pytest.approx(price * NAB_CLICKS)
        assert row.revenue == pytest.approx(4 * row.spend)
        assert row.cpc == pytest.approx(price)
        assert row.cvr == pytest.approx(NAB_CONVERSIONS / NAB_CLICKS)
        assert row.clicks <= row.impressions


def test_cpm_rows_spend_price_per_thousand_impressions() -> None:
    rows = metric_rows(campaign_id_of("x_cpm_results.csv"), {T0: 2.5}, per_thousand=True)
    assert rows[0].spend == pytest.approx(2.5 * NAB_IMPRESSIONS / 1000)
    assert rows[0].revenue == pytest.approx(4 * rows[0].spend)


def test_budget_is_three_times_the_median_daily_spend() -> None:
    # 1,000 clicks a row: days of 2 x 10, 1 x 30 and 3 x 20, so daily totals 20, 30 and 60.
    prices = {
        T0: 0.01,
        T0 + HOUR: 0.01,
        T0 + 24 * HOUR: 0.03,
        T0 + 48 * HOUR: 0.02,
        T0 + 49 * HOUR: 0.02,
        T0 + 50 * HOUR: 0.02,
    }
    rows = metric_rows(campaign_id_of("x"), prices, per_thousand=False)
    assert [r.budget for r in rows] == [pytest.approx(3 * 30.0)] * len(rows)


def test_the_real_files_with_their_quirks() -> None:
    data = {s.name: s for s in load_nab()}
    assert sorted(len(s.windows) for s in data.values()) == [1, 1, 2, 3]
    for series in data.values():
        hours = [r.hour for r in series.rows]
        assert hours == sorted(set(hours))  # in order, each hour once
        assert all((h.minute, h.second, h.tzinfo) == (0, 0, UTC) for h in hours)
        daily: dict[object, float] = {}
        for row in series.rows:
            daily[row.hour.date()] = daily.get(row.hour.date(), 0.0) + row.spend
        assert series.rows[0].budget == pytest.approx(3 * statistics.median(daily.values()), 1e-3)
    # exchange-2 sends 2011-08-24 12:00:01 twice: one row, with the later value.
    ex2 = data["exchange-2_cpc_results.csv"]
    dup = datetime(2011, 8, 24, 12, tzinfo=UTC)
    assert sum(r.hour == dup for r in ex2.rows) == 1
    lines = (Path("/work/shared/data/nab") / ex2.name).read_text().splitlines()
    last = [line for line in lines if line.startswith("2011-08-24 12:00:01")][-1]
    assert next(r for r in ex2.rows if r.hour == dup).spend == pytest.approx(
        float(last.split(",")[1]) * NAB_CLICKS
    )
    windows = json.loads(Path("/work/shared/data/nab/combined_windows.json").read_text())
    assert data["exchange-3_cpm_results.csv"].windows[0] == (
        parse_hour(windows["realAdExchange/exchange-3_cpm_results.csv"][0][0]),
        datetime(2011, 8, 23, 0, tzinfo=UTC),
    )


def _series(name: str, *windows: tuple[int, int]) -> NabSeries:
    spans = [(T0 + a * HOUR, T0 + b * HOUR) for a, b in windows]
    return NabSeries(name, campaign_id_of(name), [], spans)


def test_scoring_counts_each_alert_once_and_windows_with_a_first_sighting() -> None:
    data = [_series("a", (10, 20), (50, 60)), _series("b", (100, 110)), _series("c", (5, 6))]
    opened = {
        # Both ends of a window are inside it; one window found twice is found once.
        "a": [("cpc_up", T0 + 10 * HOUR), ("spend_up", T0 + 20 * HOUR), ("cpc_up", T0 + 30 * HOUR)],
        # An alert inside another series' window is false.
        "b": [("cpc_up", T0 + 10 * HOUR)],
    }
    result = score_nab(data, opened)
    assert (result.alerts, result.true_alerts) == (4, 2)
    assert (result.windows, result.windows_found) == (4, 1)
    assert result.precision == pytest.approx(2 / 4)
    assert result.recall == pytest.approx(1 / 4)
    assert result.per_series["a"]["windows_found"] == "1/2"
    assert result.per_series["a"]["opened"] == [
        "cpc_up@07-01 10*",
        "spend_up@07-01 20*",
        "cpc_up@07-02 06",
    ]
    assert result.per_series["c"] == {"alerts": 0, "true": 0, "windows_found": "0/1", "opened": []}


def test_scoring_with_nothing_to_score() -> None:
    result = score_nab([_series("a")], {})
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_batches_go_oldest_first_by_hours_of_the_clock_skipping_empty_spans() -> None:
    first = metric_rows(campaign_id_of("a"), {T0: 1.0, T0 + HOUR: 1.0}, per_thousand=False)
    second = metric_rows(
        campaign_id_of("b"),
        {T0 + HOUR: 1.0, T0 + 3 * HOUR: 1.0, T0 + 6 * HOUR: 1.0},
        per_thousand=False,
    )
    data = [
        NabSeries("a", first[0].campaign_id, first, []),
        NabSeries("b", second[0].campaign_id, second, []),
    ]
    plan = batches(data, 2)
    assert [[r.hour - T0 for r in rows] for rows in plan] == [
        [timedelta(0), HOUR, HOUR],
        [3 * HOUR],
        [6 * HOUR],  # hours 4 and 5 have no data: nothing is sent for them
    ]
    assert batches(data, 1)[0] == [first[0]]
    assert batches([], 3) == []


def test_figure_names() -> None:
    assert series_label("exchange-2_cpc_results.csv") == "exchange_2_cpc"
