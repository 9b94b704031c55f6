"""Explanations of incidents (services/alerts/explain.py), without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.alerts import explain
from services.alerts.explain import (
    COMPETITOR_LABEL,
    CompetitorEventFacts,
    IncidentFacts,
    OwnChange,
    SeasonalCheck,
    incident_facts,
    seasonal_check,
)
from shared.metrics import HourlyMetrics

CAMPAIGN = uuid.UUID("00000000-0000-0000-0000-00000000c001")
OTHER = uuid.UUID("00000000-0000-0000-0000-00000000c002")
# A Tuesday, 14:00 UTC.
OPENED = datetime(2026, 9, 8, 14, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
OPENED_ON = OPENED.date()


def cpc_incident(**changes: object) -> IncidentFacts:
    base: dict[str, object] = {
        "campaign_id": CAMPAIGN,
        "kind": "cpc_up",
        "metric": "cpc",
        "direction": "up",
        "opened_hour": OPENED,
        "last_hour": OPENED + 3 * HOUR,
        "change": 0.8,
    }
    base.update(changes)
    return IncidentFacts(**base)  # type: ignore[arg-type]


def competitor(
    name: str,
    *,
    kind: str = "aggressive",
    started_on: date = OPENED_ON,
    score: float = 5.0,
    confidence: float = 0.8,
    campaign: uuid.UUID = CAMPAIGN,
) -> CompetitorEventFacts:
    return CompetitorEventFacts(
        uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}/{kind}/{started_on}"),
        campaign,
        name,
        kind,
        started_on,
        12.0,
        score,
        confidence,
    )


def change(
    setting: str, before: object, after: object, at: datetime, campaign: uuid.UUID = CAMPAIGN
) -> OwnChange:
    return OwnChange(
        uuid.uuid5(uuid.NAMESPACE_DNS, f"{setting}/{at}"), campaign, setting, before, after, at
    )


SEASONAL = SeasonalCheck("cpc", "up", (0.9, 0.85, 0.7, None), 3, 3, 0.4)


def sources(explanation: explain.Explanation) -> list[str]:
    return [c.source for c in explanation.candidates]


# --- order --------------------------------------------------------------------------------


def test_own_changes_then_seasonality_then_competitors() -> None:
    got = explain.explain(
        cpc_incident(),
        [change("bid", 1.0, 1.3, OPENED - 5 * HOUR)],
        SEASONAL,
        [competitor("rival.example")],
    )
    assert sources(got) == ["own_change", "seasonality", "competitor"]
    assert got.lead == "own_change"


def test_an_own_change_wins_over_a_stronger_competitor_event() -> None:
    # A small bid raise a day and a half before still comes before a huge competitor move.
    got = explain.explain(
        cpc_incident(),
        [change("bid", {"multiplier": 1.0}, {"multiplier": 1.05}, OPENED - 36 * HOUR)],
        None,
        [competitor("giant.example", score=90.0, confidence=1.0)],
    )
    assert got.lead == "own_change"
    assert sources(got) == ["own_change", "competitor"]


def test_the_nearest_own_change_comes_first() -> None:
    early = change("bid", 1.0, 1.2, OPENED - 30 * HOUR)
    late = change("bid", 1.2, 1.4, OPENED - 2 * HOUR)
    got = explain.explain(cpc_incident(), [early, late])
    assert [c.details["change_id"] for c in got.candidates] == [
        str(late.change_id),
        str(early.change_id),
    ]
    assert got.candidates[0].details["hours_before"] == 2.0


# --- own changes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "counted"),
    [
        (OPENED - 48 * HOUR, True),  # the window's first instant
        (OPENED - 48 * HOUR - timedelta(minutes=1), False),
        (OPENED + 59 * timedelta(minutes=1), True),  # within the incident's first hour
        (OPENED + HOUR, False),  # after it began: a reaction, not a cause
    ],
)
def test_the_own_change_window(at: datetime, counted: bool) -> None:
    got = explain.explain(cpc_incident(), [change("bid", 1.0, 1.3, at)])
    assert bool(got.of("own_change")) is counted


def test_a_change_that_cannot_move_the_metric_is_no_candidate() -> None:
    # A new creative does not make clicks dearer; a bid cut does not raise CPC; another
    # campaign's bid raise is not this campaign's.
    got = explain.explain(
        cpc_incident(),
        [
            change("creative", "a", "b", OPENED - HOUR),
            change("bid", 1.0, 0.8, OPENED - HOUR),
            change("bid", 1.0, 1.3, OPENED - HOUR, campaign=OTHER),
        ],
    )
    assert got.candidates == ()


def test_a_budget_cut_explains_spend_down_but_not_spend_up() -> None:
    spend_down = cpc_incident(kind="spend_down", metric="spend", direction="down")
    spend_up = cpc_incident(kind="spend_up", metric="spend", direction="up")
    cut = change("budget", 100.0, 60.0, OPENED - 3 * HOUR)
    assert explain.explain(spend_down, [cut]).lead == "own_change"
    assert explain.explain(spend_up, [cut]).lead is None


def test_a_pause_may_explain_a_conversion_drop_either_way() -> None:
    incident = cpc_incident(kind="conversions_down", metric="conversions", direction="down")
    got = explain.explain(incident, [change("status", "active", "paused", OPENED - HOUR)])
    assert got.of("own_change")[0].details["setting"] == "status"


# --- competitors --------------------------------------------------------------------------


def test_competitor_events_rank_by_score() -> None:
    got = explain.explain(
        cpc_incident(),
        [],
        None,
        [
            competitor("small.example", score=1.5),
            competitor("big.example", score=9.0),
            competitor("mid.example", kind="entered", score=4.0, started_on=OPENED.date() - DAY),
        ],
    )
    assert [c.details["competitor"] for c in got.candidates] == [
        "big.example",
        "mid.example",
        "small.example",
    ]


def test_a_competitor_candidate_carries_its_numbers_and_the_label() -> None:
    event = competitor("rival.example", score=6.4, confidence=0.7)
    (candidate,) = explain.explain(cpc_incident(), [], None, [event]).candidates
    assert candidate.as_dict() == {
        "source": "competitor",
        "label": "co-occurring, not shown to be causal",
        "event_id": str(event.event_id),
        "competitor": "rival.example",
        "kind": "aggressive",
        "started_on": "2026-09-08",
        "size": 12.0,
        "score": 6.4,
        "confidence": 0.7,
    }
    assert candidate.label == COMPETITOR_LABEL


@pytest.mark.parametrize(
    ("started_on", "counted"),
    [
        (OPENED.date(), True),
        (OPENED.date() - DAY, True),
        (OPENED.date() - 2 * DAY, False),
        (OPENED.date() + DAY, True),
        (OPENED.date() + 2 * DAY, False),
    ],
)
def test_the_competitor_window_is_from_the_day_before_to_the_day_after(
    started_on: date, counted: bool
) -> None:
    got = explain.explain(
        cpc_incident(), [], None, [competitor("r.example", started_on=started_on)]
    )
    assert bool(got.of("competitor")) is counted


def test_the_window_follows_the_first_hour_not_the_last() -> None:
    # Opened just after midnight: the day before is still in, whatever hours followed.
    incident = cpc_incident(opened_hour=datetime(2026, 9, 8, 0, tzinfo=UTC))
    events = [competitor("r.example", started_on=date(2026, 9, 7))]
    assert explain.explain(incident, [], None, events).of("competitor")


@pytest.mark.parametrize(
    ("kind", "metric", "direction"),
    [
        ("cvr_down", "cvr", "down"),
        ("spend_up", "spend", "up"),
        ("tracking_outage", "conversions", "down"),
        ("cpc_down", "cpc", "down"),
        ("budget_exceeded", "spend", "up"),
    ],
)
def test_incidents_on_other_moves_get_no_competitor_link(
    kind: str, metric: str, direction: str
) -> None:
    incident = cpc_incident(kind=kind, metric=metric, direction=direction)
    got = explain.explain(incident, [], None, [competitor("rival.example", score=50.0)])
    assert got.of("competitor") == ()


@pytest.mark.parametrize(("metric", "direction"), [("cpa", "up"), ("lost_is_rank", "up")])
def test_cpa_and_lost_impression_share_look_for_competitors_too(
    metric: str, direction: str
) -> None:
    incident = cpc_incident(kind=f"{metric}_{direction}", metric=metric, direction=direction)
    assert explain.explain(incident, [], None, [competitor("r.example")]).of("competitor")


def test_a_competitor_that_left_does_not_explain_dearer_clicks() -> None:
    events = [
        competitor("gone.example", kind="exited"),
        competitor("calm.example", kind="retreated"),
    ]
    assert explain.explain(cpc_incident(), [], None, events).candidates == ()


def test_another_campaigns_competitor_event_is_ignored() -> None:
    events = [competitor("rival.example", campaign=OTHER)]
    assert explain.explain(cpc_incident(), [], None, events).candidates == ()


# --- seasonality --------------------------------------------------------------------------


def hour_row(hour: datetime, cpc: float, clicks: int = 100) -> HourlyMetrics:
    return HourlyMetrics(
        campaign_id=CAMPAIGN,
        hour=hour,
        impressions=2000,
        clicks=clicks,
        conversions=5,
        spend=round(cpc * clicks, 6),
        revenue=50.0,
        budget=500.0,
    )


def weeks_of_rows(weekly_jump: dict[int, float], weeks: int = 4) -> list[HourlyMetrics]:
    """Hourly rows for ``weeks`` weeks before OPENED at CPC 1.00, with the CPC at the
    same weekday and hour ``k`` weeks back set to 1 + weekly_jump[k]."""
    start = OPENED - weeks * WEEK - 2 * DAY
    rows = []
    hour = start
    while hour < OPENED:
        k, rest = divmod(OPENED - hour, WEEK)
        cpc = 1.0 + weekly_jump.get(k, 0.0) if rest == timedelta(0) else 1.0
        rows.append(hour_row(hour, cpc))
        hour += HOUR
    return rows


def test_seasonality_known_answer() -> None:
    # Weeks 1..4 back: +100%, +50%, +30% and +10% at the same hour, against CPC 1.00
    # before. The incident moved +80%: a week counts from +40%.
    rows = weeks_of_rows({1: 1.0, 2: 0.5, 3: 0.3, 4: 0.1})
    check = seasonal_check(rows, "cpc", "up", OPENED, change=0.8)
    assert check.threshold == pytest.approx(0.4)
    assert check.moves == pytest.approx((1.0, 0.5, 0.3, 0.1))
    assert (check.weeks_checked, check.weeks_moved) == (4, 2)
    assert not check.seasonal


def test_a_move_seen_three_weeks_running_is_seasonal_and_explains() -> None:
    rows = weeks_of_rows({1: 0.9, 2: 0.8, 3: 0.6})
    check = seasonal_check(rows, "cpc", "up", OPENED, change=0.8)
    assert (check.weeks_moved, check.seasonal) == (3, True)
    got = explain.explain(cpc_incident(), [], check, [competitor("r.example")])
    assert sources(got) == ["seasonality", "competitor"]
    assert got.of("seasonality")[0].details["weeks_moved"] == 3


def test_a_move_the_other_way_is_not_the_same_move() -> None:
    rows = weeks_of_rows({1: -0.6, 2: -0.6, 3: -0.6})
    check = seasonal_check(rows, "cpc", "up", OPENED, change=0.8)
    assert check.weeks_moved == 0 and not check.seasonal
    assert seasonal_check(rows, "cpc", "down", OPENED, change=-0.6).seasonal


def test_weeks_without_rows_are_not_counted() -> None:
    rows = [r for r in weeks_of_rows({1: 0.9, 2: 0.9, 3: 0.9}) if r.hour >= OPENED - 2 * WEEK - DAY]
    check = seasonal_check(rows, "cpc", "up", OPENED, change=0.8)
    assert check.moves[2:] == (None, None)
    assert (check.weeks_checked, check.weeks_moved, check.seasonal) == (2, 2, False)


def test_without_the_incidents_move_the_floor_applies() -> None:
    rows = weeks_of_rows({1: 0.25, 2: 0.25, 3: 0.25})
    check = seasonal_check(rows, "cpc", "up", OPENED)
    assert check.threshold == explain.SEASON_MIN_MOVE
    assert check.seasonal


def test_a_seasonal_check_on_another_metric_is_not_used() -> None:
    other = SeasonalCheck("ctr", "down", (0.9, 0.9, 0.9, 0.9), 4, 4, 0.2)
    assert explain.explain(cpc_incident(), [], other).candidates == ()


def test_cpa_is_spend_per_conversion() -> None:
    row = hour_row(OPENED, 2.0)  # 200 spent, 5 conversions
    assert explain.metric_value(row, "cpa") == pytest.approx(40.0)
    assert explain.metric_value(row, "lost_is_rank") is None


# --- facts from a stored incident ---------------------------------------------------------


def test_facts_from_an_incidents_evidence() -> None:
    facts = incident_facts(
        CAMPAIGN,
        "cpc_up",
        {"metric": "cpc", "direction": "up", "observed": 1.8, "baseline": 1.0},
        OPENED,
        OPENED + 2 * HOUR,
    )
    assert (facts.metric, facts.direction) == ("cpc", "up")
    assert facts.change == pytest.approx(0.8)
    assert facts.moves_competitors_explain
    pacing = incident_facts(CAMPAIGN, "budget_pacing", {"metric": "spend"}, OPENED)
    assert (pacing.metric, pacing.direction, pacing.change) == ("spend", "up", None)
    outage = incident_facts(CAMPAIGN, "tracking_outage", {"metric": "clicks"}, OPENED)
    assert (outage.metric, outage.direction) == ("clicks", "down")
    assert not outage.moves_competitors_explain


def test_the_explanation_as_evidence_holds() -> None:
    got = explain.explain(cpc_incident(), [], None, [competitor("r.example")]).as_dict()
    assert got["lead"] == "competitor"
    assert got["opened_hour"] == OPENED.isoformat()
    assert [c["label"] for c in got["candidates"]] == [COMPETITOR_LABEL]


def test_an_alert_row_without_kind_campaign_or_first_hour_is_no_incident() -> None:
    from services.alerts.explaining import facts_of

    row = {
        "alert_key": "cpc_up",
        "affected_entity_id": CAMPAIGN,
        "first_seen_hour": OPENED,
        "last_seen_hour": OPENED + HOUR,
        "evidence": {"primary": "cpc_up", "metric": "cpc", "observed": 2.0, "baseline": 1.0},
    }
    facts = facts_of(row)
    assert facts is not None and facts.kind == "cpc_up" and facts.change == pytest.approx(1.0)
    # A person's alert: no kind. An alert about no campaign. One with no hours.
    assert facts_of({**row, "alert_key": None, "evidence": {}}) is None
    assert facts_of({**row, "affected_entity_id": None}) is None
    assert facts_of({**row, "first_seen_hour": None}) is None
