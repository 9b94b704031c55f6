"""Findings grouped into incidents, and incidents carried across hours, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.alerts.alert_lifecycle import QUIET_HOURS, AlertState, Transition
from services.alerts.anomaly import AlertContent
from services.alerts.findings import Finding
from services.alerts.incidents import (
    EXPLAINS,
    GOOD_NEWS,
    SPECIFICITY,
    Incident,
    OpenIncident,
    explains,
    fold,
    group,
    primary_of,
)
from shared.contracts.alerts import AlertEvent, incident_kinds
from shared.contracts.enums import AlertKind, Severity

T0 = datetime(2025, 3, 12, 8, tzinfo=UTC)
HOUR = timedelta(hours=1)

METRIC = {
    "tracking_outage": "conversions",
    "budget_pacing": "spend",
    "budget_exceeded": "spend",
}


def finding(kind: str, severity: str = "medium", hour: datetime = T0) -> Finding:
    metric = METRIC.get(kind, kind.rsplit("_", 1)[0])
    alert_type = "budget_threshold" if kind.startswith("budget") else "performance_anomaly"
    content = AlertContent(
        alert_type,  # type: ignore[arg-type]
        severity,  # type: ignore[arg-type]
        f"{kind} on campaign c",
        f"what {kind} saw",
        [{"action": f"look_at_{kind}", "reason": "it moved"}],
    )
    evidence = {"metric": metric, "observed": 1.0, "baseline": 2.0, "hour": hour.isoformat()}
    return Finding(kind, metric, content, evidence)


def kinds_of(incidents: list[Incident]) -> list[tuple[str, list[str]]]:
    return [(i.kind, i.symptom_kinds) for i in incidents]


def test_a_conversion_collapse_is_one_incident_named_for_the_outage() -> None:
    found = group(
        [
            finding("roas_down", "high"),
            finding("cvr_down", "medium"),
            finding("tracking_outage", "critical"),
            finding("conversions_down", "high"),
        ]
    )
    assert kinds_of(found) == [
        ("tracking_outage", ["conversions_down", "cvr_down", "roas_down"]),
    ]
    (incident,) = found
    assert incident.severity == "critical"
    assert incident.content is not None and incident.content.title.startswith("tracking_outage")


def test_without_the_outage_the_conversions_explain_cvr_and_roas() -> None:
    found = group([finding("roas_down"), finding("cvr_down", "high"), finding("conversions_down")])
    assert kinds_of(found) == [("conversions_down", ["cvr_down", "roas_down"])]
    assert found[0].severity == "high"


def test_a_cpc_rise_explains_the_spend_rise_and_the_budget_alerts() -> None:
    found = group([finding("spend_up"), finding("budget_exceeded"), finding("cpc_up")])
    assert kinds_of(found) == [("cpc_up", ["spend_up", "budget_exceeded"])]


def test_unrelated_moves_and_good_news_stay_apart() -> None:
    found = group(
        [
            finding("conversions_up"),
            finding("roas_up"),
            finding("cpc_up"),
            finding("spend_down"),
        ]
    )
    assert kinds_of(found) == [
        ("cpc_up", []),
        ("spend_down", []),
        ("conversions_up", ["roas_up"]),
    ]


def test_good_news_never_explains_a_problem_or_the_reverse() -> None:
    for cause, effects in EXPLAINS.items():
        for effect in effects:
            assert (cause in GOOD_NEWS) == (effect in GOOD_NEWS), (cause, effect)
    assert not explains("cvr_up", "roas_down") and explains("tracking_outage", "roas_down")


def test_every_kind_has_a_place_in_the_specificity_order() -> None:
    assert sorted(SPECIFICITY) == sorted(AlertKind)
    assert primary_of(["budget_exceeded", "budget_pacing"]) == "budget_pacing"
    with pytest.raises(ValueError):
        primary_of([])


def test_the_evidence_names_the_primary_and_each_symptom_with_its_own_evidence() -> None:
    (incident,) = group([finding("cvr_down", "high"), finding("roas_down", "low")])
    evidence = incident.evidence()
    assert evidence["primary"] == "cvr_down" and evidence["metric"] == "cvr"
    (symptom,) = evidence["symptoms"]
    assert symptom["kind"] == "roas_down" and symptom["severity"] == "low"
    assert symptom["metric"] == "roas" and symptom["baseline"] == 2.0
    assert incident_kinds(evidence) == ("cvr_down", ["roas_down"])
    back = Incident.stored(evidence, "cvr title", "cvr description")
    assert back.kinds == incident.kinds and back.severity == "high"


def open_as(ref: str, incident: Incident, first: datetime, last: datetime) -> OpenIncident[str]:
    folded = fold([], incident, first)
    assert folded.step.state is not None
    state = folded.step.state
    return OpenIncident(ref, type(state)(state.severity, first, last, 1), incident)


def test_a_later_group_sharing_a_kind_continues_the_incident_and_sharpens_its_primary() -> None:
    (first,) = group([finding("cvr_down", "medium"), finding("roas_down", "medium")])
    opened = open_as("a", first, T0, T0)
    (later,) = group(
        [finding("tracking_outage", "high", T0 + HOUR), finding("cvr_down", "low", T0 + HOUR)]
    )
    folded = fold([opened], later, T0 + HOUR)
    assert folded.continued is opened and folded.resolved == ()
    assert folded.step.transition is Transition.ESCALATE
    merged = folded.incident
    assert merged.kind == "tracking_outage"
    assert merged.symptom_kinds == ["cvr_down", "roas_down"]
    # The text follows the new primary; each symptom is as last seen.
    assert merged.content is not None and merged.primary.title.startswith("tracking_outage")
    cvr = next(s for s in merged.symptoms if s.kind == "cvr_down")
    assert cvr.evidence["hour"] == (T0 + HOUR).isoformat()


def test_a_symptom_seen_alone_keeps_the_incident_and_its_text() -> None:
    (first,) = group([finding("cpc_up", "high"), finding("spend_up", "medium")])
    opened = open_as("a", first, T0, T0)
    (later,) = group([finding("spend_up", "low", T0 + 2 * HOUR)])
    folded = fold([opened], later, T0 + 2 * HOUR)
    assert folded.continued is opened
    assert folded.step.transition is Transition.REPEAT
    assert folded.step.state is not None and folded.step.state.severity == "high"
    assert folded.incident.kind == "cpc_up" and folded.incident.content is None
    assert folded.incident.primary.title == opened.incident.primary.title


def test_an_effect_seen_later_joins_the_cause_already_open() -> None:
    """The count test sees a conversion collapse hours after the outage opened."""
    (first,) = group([finding("tracking_outage", "high")])
    opened = open_as("a", first, T0, T0)
    (later,) = group([finding("conversions_down", "medium", T0 + 4 * HOUR)])
    folded = fold([opened], later, T0 + 4 * HOUR)
    assert folded.continued is opened
    assert folded.incident.kind == "tracking_outage"
    assert folded.incident.symptom_kinds == ["conversions_down"]


def test_a_group_sharing_nothing_opens_its_own_incident() -> None:
    (first,) = group([finding("cpc_up")])
    opened = open_as("a", first, T0, T0)
    (other,) = group([finding("cvr_down", hour=T0 + HOUR)])
    folded = fold([opened], other, T0 + HOUR)
    assert folded.continued is None and folded.step.transition is Transition.OPEN
    assert folded.incident.kind == "cvr_down"


def test_an_incident_past_its_quiet_period_closes_and_a_new_one_opens() -> None:
    (first,) = group([finding("cvr_down")])
    opened = open_as("a", first, T0, T0)
    later = T0 + (QUIET_HOURS + 1) * HOUR
    (again,) = group([finding("cvr_down", hour=later)])
    folded = fold([opened], again, later)
    assert folded.resolved == (opened,) and folded.continued is None
    assert folded.step.transition is Transition.OPEN


def test_of_two_open_incidents_the_one_holding_the_primary_is_continued() -> None:
    (cpc,) = group([finding("cpc_up")])
    (cvr,) = group([finding("cvr_down")])
    older = open_as("cpc", cpc, T0, T0 + HOUR)
    newer = open_as("cvr", cvr, T0 + HOUR, T0 + HOUR)
    (both,) = group([finding("cvr_down"), finding("roas_down"), finding("conversions_down")])
    assert both.kind == "conversions_down"
    # Neither covers conversions_down; the cvr incident shares more kinds.
    assert fold([older, newer], both, T0 + 2 * HOUR).continued is newer


def test_an_event_read_from_a_stored_row_names_the_incidents_kinds() -> None:
    (incident,) = group([finding("cvr_down"), finding("roas_down")])
    event = AlertEvent.model_validate(
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "alert_type": "performance_anomaly",
            "severity": "medium",
            "title": "t",
            "description": None,
            "affected_entity_type": "campaign",
            "affected_entity_id": None,
            "recommended_actions": None,
            "auto_action_taken": False,
            "status": "acknowledged",
            "alert_key": "cvr_down",
            "occurrences": 1,
            "evidence": incident.evidence(),
            "first_seen_hour": T0,
            "last_seen_hour": T0,
            "created_at": T0,
            "updated_at": T0,
            "acknowledged_at": T0,
            "resolved_at": None,
        }
    )
    assert (event.kind, event.symptoms) == ("cvr_down", ["roas_down"])


def test_an_alert_stored_before_incidents_existed_is_matched_by_its_key() -> None:
    """Rows written by the per-kind rule carry no primary in their evidence."""
    old = Incident.stored({"metric": "conversions"}, "CVR down", None, "tracking_outage")
    assert old.kind == "tracking_outage"
    opened = OpenIncident("old", AlertState(Severity.MEDIUM, T0, T0, 1), old)
    (later,) = group([finding("conversions_down", "medium", T0 + HOUR)])
    folded = fold([opened], later, T0 + HOUR)
    assert folded.continued is opened
    # A person's alert of a kind outside the table explains nothing, and breaks nothing.
    theirs = Incident.stored({}, "Checkout broken", None, "manual_note")
    other = OpenIncident("manual", AlertState(Severity.HIGH, T0, T0, 1), theirs)
    assert fold([other], later, T0 + HOUR).continued is None
