"""The capacity bench's arithmetic: costs per campaign-hour from readings, and what they
make of a size."""

from __future__ import annotations

import pytest

from bench.capacity import Reading, model, per_unit


def test_costs_are_the_loads_deltas_less_the_idle_rate() -> None:
    idle = (
        Reading(0.0, {"alerts": 1.0}, 100.0, {"alerts": 10}),
        Reading(10.0, {"alerts": 1.1}, 110.0, {"alerts": 10}),  # 0.01 core idle, 1 ms/s db
    )
    before = Reading(20.0, {"alerts": 2.0}, 200.0, {"alerts": 20})
    after = Reading(40.0, {"alerts": 4.2}, 620.0, {"alerts": 120})
    costs = per_unit(idle, before, after, units=1000)
    # 2.2 s used, 0.2 s of it idle: 2 s for 1,000 campaign-hours.
    assert costs["cpu_ms_per_campaign_hour_alerts"] == pytest.approx(2.0)
    assert costs["idle_cores_alerts"] == pytest.approx(0.01)
    # 420 ms of database time, 20 ms of it idle.
    assert costs["db_ms_per_campaign_hour"] == pytest.approx(0.4)
    assert costs["messages_per_campaign_hour_alerts"] == pytest.approx(0.1)


def test_a_size_needs_cores_in_proportion_and_names_its_bottleneck() -> None:
    costs = {"cpu_ms_per_campaign_hour_alerts": 3.6, "db_ms_per_campaign_hour": 7.2}
    out = model(costs, bytes_per_row=250.0, core_share=0.5)
    # 1,000,000 campaigns: 277.8 campaign-hours a second.
    assert out["cores_alerts_1000000"] == pytest.approx(1.0, abs=1e-3)
    assert out["replicas_alerts_1000000"] == 2
    assert out["cores_database_1000000"] == pytest.approx(2.0, abs=1e-3)
    assert out["bottleneck_1000000"] == "database"
    assert out["replicas_alerts_1000"] == 1  # never fewer than one
    # 24 x 30 rows a campaign, three copies, 250 bytes each.
    assert out["metrics_gb_per_30_days_1000000"] == pytest.approx(540.0)
