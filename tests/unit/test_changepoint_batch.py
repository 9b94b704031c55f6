"""The change-point scan over several series at once, against the scan of each alone."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sandbox.simulator import CampaignSimulator, InjectedAnomaly
from services.alerts import changepoint
from services.alerts.anomaly import DEFAULT_PARAMS, detect_campaign
from services.alerts.changepoint import Series, scan, scan_all

START = datetime(2026, 2, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
SETTINGS = DEFAULT_PARAMS.scan


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0], 3.0),
        ([5.0, 1.0], 3.0),
        ([4.0, 1.0, 9.0], 4.0),
        ([0.1, 0.2, 0.4, 0.3], 0.25),
        ([], math.nan),
    ],
)
def test_median_known_answers(values: list[float], expected: float) -> None:
    got = changepoint._median(np.array(values, dtype=float))
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_median_is_numpys_to_the_last_bit() -> None:
    rng = np.random.default_rng(7)
    for size in (2, 3, 24, 25, 336, 337):
        values = rng.lognormal(0.0, 1.3, size)
        assert changepoint._median(values) == float(np.median(values))


def _series(rng: np.random.Generator, hours: int, shift: float) -> Series:
    """A daily cycle with noise and gaps; the last ``6`` hours moved by ``shift`` (log)."""
    t = np.arange(hours)
    logs = 2.0 + 0.6 * np.sin(2 * np.pi * t / 24) + rng.normal(0.0, 0.15, hours)
    logs[-6:] += shift
    values = np.exp(logs)
    values[rng.random(hours) < 0.05] = np.nan
    values[-1] = np.exp(logs[-1])
    counts = np.round(values)
    return Series(values, np.full(hours, 0.05), (1, -1), counts)


def test_scan_all_gives_each_series_what_scan_gives_it_alone() -> None:
    rng = np.random.default_rng(11)
    hours = 14 * 24 + 1
    hour_of_day = (np.arange(hours) - (hours - 1) + 13) % 24
    # Normal, moved up, moved down, and one too short of history to be judged.
    series = [_series(rng, hours, shift) for shift in (0.0, 1.4, -1.6, 0.0)]
    series[3].values[: hours - 60] = np.nan
    together = scan_all(series, hour_of_day, SETTINGS)
    alone = [
        scan(s.values, s.sampling_sd, hour_of_day, s.directions, SETTINGS, s.counts) for s in series
    ]
    assert together == alone
    # The cases the comparison stands for all occur.
    assert together[0][0].ready and together[0][1] == {}
    assert set(together[1][1]) == {1} and set(together[2][1]) == {-1}
    assert not together[3][0].ready


def test_scan_all_of_nothing_is_nothing() -> None:
    assert scan_all([], np.arange(0), SETTINGS) == []


def test_detection_on_simulated_campaigns_finds_the_injected_faults() -> None:
    # A campaign's metrics go through scan_all together: each injected fault is found.
    probe = CampaignSimulator(4, seed=9, start=START)
    ids = probe.campaign_ids
    faults = [
        InjectedAnomaly(ids[0], "spend_spike", START + 200 * HOUR, START + 206 * HOUR, 4.0),
        InjectedAnomaly(ids[1], "cpc_jump", START + 200 * HOUR, START + 206 * HOUR, 3.0),
    ]
    sim = CampaignSimulator(4, seed=9, start=START, anomalies=faults)
    rows = [r for h in range(204) for r in sim.simulate_hour(START + h * HOUR)]
    kinds = {
        campaign: {a.kind for a in detect_campaign([r for r in rows if r.campaign_id == campaign])}
        for campaign in ids
    }
    assert "spend_up" in kinds[ids[0]]
    assert "cpc_up" in kinds[ids[1]]
    assert kinds[ids[2]] == set() and kinds[ids[3]] == set()
