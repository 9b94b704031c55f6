"""Properties every forecast must have, over histories the simulator makes from any seed,
start date and forecast origin: the point lies inside its own intervals.

The point and the intervals are read off the same simulated paths (see
``shared.forecasting``); a point outside its band would mean they describe two different
forecasts. The histories cover what a campaign meets: quiet weeks, budgets that moved day
by day, an injected spike, drop or tracking outage, origins at any hour of the day, and
histories short enough for the seasonal naive fallback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.simulator import ANOMALY_KINDS, CampaignSimulator, InjectedAnomaly
from shared.forecasting import HORIZONS, LEVELS, TOTALS, ForecastConfig, forecast_campaign

HOUR = timedelta(hours=1)
# Far enough apart for the simulator's weekly and yearly rhythms to differ.
FIRST, LAST = datetime(2021, 1, 1, tzinfo=UTC), datetime(2031, 12, 31, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> tuple[CampaignSimulator, datetime, datetime, bool]:
    seed = draw(st.integers(0, 100_000))
    start = draw(st.datetimes(FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None)))
    start = start.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    # 48 hours (the fallback's minimum) to the model's whole 21-day window; the origin
    # falls at whatever hour of the day the history ends.
    history = draw(st.integers(48, 21 * 24))
    origin = start + history * HOUR
    sim = CampaignSimulator(1, seed, start)
    if draw(st.booleans()):
        sim.vary_budgets(origin, draw(st.sampled_from([0.2, 0.5])))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(sorted(ANOMALY_KINDS)))
        begins = draw(st.integers(0, history - 1))
        length = draw(st.integers(1, 72))
        magnitude = 0.0 if kind == "tracking_outage" else draw(st.sampled_from([0.3, 2.5, 5.0]))
        sim.inject(
            InjectedAnomaly(
                sim.campaign_ids[0],
                kind,
                start + begins * HOUR,
                start + (begins + length) * HOUR,
                magnitude,
            )
        )
    per_budget = draw(st.booleans())
    return sim, start, origin, per_budget


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(0, 2**32 - 1))
def test_every_point_lies_inside_its_own_intervals(
    case: tuple[CampaignSimulator, datetime, datetime, bool], draws: int
) -> None:
    sim, start, origin, per_budget = case
    hours = int((origin - start) // HOUR)
    rows = [r for hour in sim.simulate_range(start, hours) for r in hour]
    made = forecast_campaign(
        sim.campaign_ids[0],
        rows,
        origin,
        horizons=HORIZONS,
        config=ForecastConfig(per_budget=per_budget),
        rng=np.random.default_rng(draws),
    )
    assert [f.horizon_hours for f in made] == list(HORIZONS)
    for forecast in made:
        for level in (str(lv) for lv in LEVELS):
            for metric in TOTALS:
                point, band = forecast.predicted[metric], forecast.intervals[level][metric]
                if point is None or band is None:
                    # ROAS has neither where no path spends anything.
                    assert point is None or forecast.predicted["spend"] == 0
                    continue
                slack = 1e-9 * max(1.0, abs(point))
                assert band["low"] - slack <= point <= band["high"] + slack, (
                    f"{metric} over {forecast.horizon_hours} h from {origin:%Y-%m-%d %H}:00 "
                    f"({forecast.model}): {point:.4f} outside its {level}% interval "
                    f"[{band['low']:.4f}, {band['high']:.4f}]"
                )
