"""Decisions on campaigns whose incidents are linked to competitor events: what the
rationale says of them (services/decision/policy.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from services.decision.policy import (
    AlertView,
    CampaignView,
    CompetitorLink,
    MetricSummary,
    WindowTotals,
    competition_note,
    competitor_links,
    decide,
)

NOW = datetime(2026, 9, 8, 18, tzinfo=UTC)
A = UUID(int=0xA)

RIVAL = CompetitorLink("rival.example", "aggressive", "2026-09-08", 12.5, 7.2, 0.8)
NEWCOMER = CompetitorLink("new.example", "entered", "2026-09-07", 9.0, 3.1, 0.6)
LABEL = "co-occurring, not shown to be causal"


def totals(hours: int, spend: float, roas: float, clicks: int) -> WindowTotals:
    return WindowTotals(
        hours=hours,
        impressions=clicks * 20,
        clicks=clicks,
        conversions=round(clicks * 0.04),
        spend=spend,
        revenue=spend * roas,
    )


def view(*alerts: AlertView, roas: float = 1.6) -> CampaignView:
    summary = MetricSummary(
        campaign_id=A,
        as_of=NOW,
        last_24h=totals(24, 500.0, roas, 1200),
        prior_7d=totals(168, 3500.0, 2.0, 8400),
    )
    return CampaignView(A, 600.0, summary, alerts)


def cpc_alert(*links: CompetitorLink) -> AlertView:
    return AlertView(
        UUID(int=0xC1), "cpc_up", "cpc", "high", 1.6, 1.0, ("spend_up",), competitors=links
    )


def test_a_bid_cut_names_the_linked_competitor_event_and_that_it_is_not_causal() -> None:
    (decision,) = decide([view(cpc_alert(RIVAL))])
    assert decision.action_taken == "lower_bid"
    assert (
        "Linked competitor event: rival.example aggressive from 2026-09-08 (impression share "
        "+12.5 points, score 7.20, confidence 0.80); co-occurring, not shown to be causal."
    ) in decision.rationale
    # A cut is not a raise into anyone's step jump.
    assert "step jump" not in decision.rationale
    (shown,) = decision.context_data["alerts"]
    assert shown["competitors"] == [
        {
            "competitor": "rival.example",
            "kind": "aggressive",
            "started_on": "2026-09-08",
            "size": 12.5,
            "score": 7.2,
            "confidence": 0.8,
        }
    ]


def test_without_a_link_the_rationale_names_no_competitor() -> None:
    (decision,) = decide([view(cpc_alert())])
    assert "competitor" not in decision.rationale.lower()
    assert LABEL not in decision.rationale


def test_a_bid_raise_while_a_competitor_turned_aggressive_says_so() -> None:
    note = competition_note([RIVAL], {"kind": "bid", "multiplier": 1.1})
    assert note.endswith("This is raising bids into rival.example's step jump.")
    assert LABEL in note


def test_a_bid_raise_beside_a_mere_entrant_mentions_no_step_jump() -> None:
    note = competition_note([NEWCOMER], {"kind": "bid", "multiplier": 1.1})
    assert "new.example entered from 2026-09-07" in note and LABEL in note
    assert "step jump" not in note


def test_a_budget_raise_or_a_bid_cut_is_no_bid_raise() -> None:
    for action in (
        {"kind": "budget", "from": 600.0, "to": 700.0},
        {"kind": "bid", "multiplier": 0.9},
    ):
        assert "step jump" not in competition_note([RIVAL], action)


def test_several_links_are_named_once_each_highest_score_first() -> None:
    first = cpc_alert(NEWCOMER, RIVAL)
    second = replace(cpc_alert(RIVAL), alert_id=UUID(int=0xC2), kind="cpc_up")
    links = competitor_links(view(first, second))
    assert links == [RIVAL, NEWCOMER]
    note = competition_note(links, {"kind": "bid", "multiplier": 0.9})
    assert note.startswith("Linked competitor events: rival.example aggressive")
    assert note.index("rival.example") < note.index("new.example")
    assert note.count("rival.example") == 1


def test_no_links_no_note() -> None:
    assert competition_note([], {"kind": "bid", "multiplier": 1.2}) == ""


def test_a_link_reads_back_from_an_incidents_candidate() -> None:
    candidate = {
        "source": "competitor",
        "label": LABEL,
        "event_id": "00000000-0000-0000-0000-000000000001",
        "competitor": "rival.example",
        "kind": "aggressive",
        "started_on": "2026-09-08",
        "size": 12.5,
        "score": 7.2,
        "confidence": 0.8,
    }
    assert CompetitorLink.of(candidate) == RIVAL
