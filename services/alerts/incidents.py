"""From the findings of one campaign's hour to incidents: one per cause (pure).

One cause moves several metrics at once: a tracking outage zeroes conversions, which
lowers CVR and ROAS; a CPC rise lifts spend, which runs ahead of the budget. Each of
those is a finding; together they are one incident. ``EXPLAINS`` says, once, which kind
of finding accounts for which others. Findings whose kinds it links (directly or through
a chain) form one incident; its **primary** is the kind no other kind present explains,
the most specific one by ``SPECIFICITY`` when several qualify, and the others are its
**symptoms**. Good news (``GOOD_NEWS``) never joins a problem's incident.

An incident stays open across hours (the rule of :mod:`alert_lifecycle`, applied to the
incident as a whole): a later group of findings that shares any kind with an open
incident of its campaign continues it, adds its kinds and may make its primary more
specific (``cvr_down`` becomes ``tracking_outage`` once the outage shows). The alerts
store persists what :func:`fold` decides and the quality bench replays it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from services.alerts.alert_lifecycle import (
    HOUR,
    QUIET_HOURS,
    AlertState,
    QuietHour,
    Sighting,
    Step,
    Transition,
    advance,
)
from services.alerts.anomaly import AlertContent
from services.alerts.findings import Finding
from shared.contracts.alerts import incident_kinds
from shared.contracts.enums import AlertKind, Severity

K = AlertKind

# Kind -> the kinds it directly explains: what a person would check first, and what
# follows from it. Chains count (an outage explains ROAS through conversions).
EXPLAINS: Mapping[AlertKind, frozenset[AlertKind]] = {
    # Clicks or conversions reported as zero while traffic is still paid for.
    K.TRACKING_OUTAGE: frozenset({K.CONVERSIONS_DOWN, K.CTR_DOWN, K.CPC_UP}),
    # Dearer clicks: at a steady click count spend rises (and runs ahead of the budget);
    # at a steady spend fewer clicks, so fewer conversions.
    K.CPC_UP: frozenset({K.SPEND_UP, K.CONVERSIONS_DOWN, K.ROAS_DOWN}),
    K.CTR_DOWN: frozenset({K.CONVERSIONS_DOWN}),
    # Fewer conversions from the same clicks is a lower CVR, and less revenue per spend.
    K.CONVERSIONS_DOWN: frozenset({K.CVR_DOWN, K.ROAS_DOWN}),
    K.CVR_DOWN: frozenset({K.ROAS_DOWN}),
    K.SPEND_UP: frozenset({K.BUDGET_PACING, K.BUDGET_EXCEEDED, K.ROAS_DOWN}),
    # Running ahead of the day's curve ends over the budget.
    K.BUDGET_PACING: frozenset({K.BUDGET_EXCEEDED}),
    K.CPC_DOWN: frozenset({K.CONVERSIONS_UP, K.ROAS_UP}),
    K.CTR_UP: frozenset({K.CONVERSIONS_UP}),
    K.CONVERSIONS_UP: frozenset({K.CVR_UP, K.ROAS_UP}),
    K.CVR_UP: frozenset({K.ROAS_UP}),
}

# Improvements: they need no intervention and never share an incident with a problem.
GOOD_NEWS: frozenset[AlertKind] = frozenset(
    {K.CTR_UP, K.CVR_UP, K.CPC_DOWN, K.CONVERSIONS_UP, K.ROAS_UP}
)

# Most specific first: decides the primary among kinds that nothing present explains.
SPECIFICITY: tuple[AlertKind, ...] = (
    K.TRACKING_OUTAGE,
    K.CPC_UP,
    K.CTR_DOWN,
    K.CONVERSIONS_DOWN,
    K.CVR_DOWN,
    K.SPEND_UP,
    K.BUDGET_PACING,
    K.BUDGET_EXCEEDED,
    K.ROAS_DOWN,
    K.SPEND_DOWN,
    K.CPC_DOWN,
    K.CTR_UP,
    K.CONVERSIONS_UP,
    K.CVR_UP,
    K.ROAS_UP,
)
_RANK: dict[str, int] = {kind: i for i, kind in enumerate(SPECIFICITY)}


def _closure(table: Mapping[AlertKind, frozenset[AlertKind]]) -> dict[str, frozenset[str]]:
    reach: dict[str, frozenset[str]] = {}
    for start in table:
        seen: set[str] = set()
        frontier = list(table[start])
        while frontier:
            kind = frontier.pop()
            if kind not in seen:
                seen.add(kind)
                frontier.extend(table.get(kind, ()))
        reach[start] = frozenset(seen)
    return reach


_EXPLAINED = _closure(EXPLAINS)


def explains(cause: str, effect: str) -> bool:
    """True when ``cause`` accounts for ``effect``, directly or through a chain, and both
    are the same kind of news."""
    return effect in _EXPLAINED.get(cause, frozenset()) and _good(cause) == _good(effect)


def follows(open_kind: str, new_kind: str) -> bool:
    """Whether ``new_kind``, seen after ``open_kind`` was, belongs to the same cause: the
    same kind, or an effect ``open_kind`` directly explains. (Within one hour chains
    count; across hours they would tie an open CPC rise to a CVR drop that, two links
    away, it does not explain.)"""
    # StrEnum keys hash as their text; a kind outside the table (an alert a person raised)
    # explains nothing.
    return open_kind == new_kind or new_kind in EXPLAINS.get(open_kind, ())  # type: ignore[call-overload]


def _good(kind: str) -> bool:
    return kind in GOOD_NEWS


def _rank(kind: str) -> tuple[int, str]:
    # Kinds outside the table (none today) rank after every known kind, by name.
    return (_RANK.get(kind, len(_RANK)), kind)


def primary_of(kinds: Iterable[str]) -> str:
    """The kind no other of ``kinds`` explains; the most specific of several."""
    present = set(kinds)
    if not present:
        raise ValueError("an incident needs at least one kind")
    roots = [k for k in present if not any(explains(o, k) for o in present if o != k)]
    return min(roots or present, key=_rank)


# --- members and incidents -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """One kind within an incident, as last seen: what moved, how badly, and why we think so."""

    kind: str
    metric: str | None
    severity: Severity
    title: str
    description: str | None
    evidence: Mapping[str, Any]

    @classmethod
    def of(cls, finding: Finding) -> Member:
        content = finding.content
        return cls(
            finding.key,
            finding.metric,
            Severity(content.severity),
            content.title,
            content.description,
            finding.evidence,
        )

    def as_symptom(self) -> dict[str, Any]:
        return {
            **self.evidence,
            "kind": self.kind,
            "metric": self.metric,
            "severity": self.severity.value,
            "title": self.title,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """One cause on one campaign: its primary kind and the symptoms it explains.

    ``content`` is the primary's finding as a person reads it (type, title, description,
    next steps) when the primary was seen in the hour at hand; otherwise None, and the
    primary member's title and description (as last seen) stand.
    """

    primary: Member
    symptoms: tuple[Member, ...] = ()
    content: AlertContent | None = None

    @property
    def kind(self) -> str:
        return self.primary.kind

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset({self.primary.kind, *(s.kind for s in self.symptoms)})

    @property
    def severity(self) -> Severity:
        """The worst of its members."""
        return Severity.worst(self.primary.severity, *(s.severity for s in self.symptoms))

    @property
    def symptom_kinds(self) -> list[str]:
        return [s.kind for s in self.symptoms]

    def evidence(self) -> dict[str, Any]:
        """The primary's own evidence, the primary's kind and severity, and each symptom
        with its evidence (the shape :func:`shared.contracts.alerts.incident_kinds` reads)."""
        return {
            **self.primary.evidence,
            "primary": self.primary.kind,
            "severity": self.primary.severity.value,
            "symptoms": [s.as_symptom() for s in self.symptoms],
        }

    @classmethod
    def of(cls, members: Iterable[Member], content_by_kind: Mapping[str, Any]) -> Incident:
        by_kind = {m.kind: m for m in members}
        primary = primary_of(by_kind)
        symptoms = tuple(by_kind[k] for k in sorted(by_kind, key=_rank) if k != primary)
        return cls(by_kind[primary], symptoms, content_by_kind.get(primary))

    @classmethod
    def stored(
        cls,
        evidence: Mapping[str, Any],
        title: str,
        description: str | None,
        alert_key: str | None = None,
    ) -> Incident:
        """An open incident back from its row. A row written before incidents existed has
        no primary in its evidence: its ``alert_key`` names its one kind."""
        primary, _ = incident_kinds(evidence)
        primary = primary or alert_key
        own = {k: v for k, v in evidence.items() if k not in {"primary", "symptoms", "severity"}}
        head = Member(
            primary or "",
            evidence.get("metric"),
            Severity(evidence.get("severity", Severity.LOW)),
            title,
            description,
            own,
        )
        symptoms = []
        for entry in evidence.get("symptoms") or ():
            rest = {
                k: v
                for k, v in entry.items()
                if k not in {"kind", "metric", "severity", "title", "description"}
            }
            symptoms.append(
                Member(
                    entry["kind"],
                    entry.get("metric"),
                    Severity(entry.get("severity", Severity.LOW)),
                    entry.get("title", ""),
                    entry.get("description"),
                    rest,
                )
            )
        return cls(head, tuple(symptoms))


def group(findings: Sequence[Finding]) -> list[Incident]:
    """One hour's findings on one campaign, as incidents: kinds linked by ``explains``
    (either way, through any chain) share one. Most specific primary first."""
    members = {f.key: Member.of(f) for f in findings}
    content = {f.key: f.content for f in findings}
    unvisited = sorted(members, key=_rank)
    incidents = []
    while unvisited:
        component = [unvisited.pop(0)]
        for kind in component:
            linked = [o for o in unvisited if explains(kind, o) or explains(o, kind)]
            for other in linked:
                unvisited.remove(other)
            component.extend(linked)
        incidents.append(Incident.of((members[k] for k in component), content))
    return sorted(incidents, key=lambda i: _rank(i.kind))


def merge(previous: Incident, found: Incident) -> Incident:
    """An open incident continued by ``found``: every kind it has covered, each as last
    seen, under the most specific primary among them."""
    members = {m.kind: m for m in (previous.primary, *previous.symptoms)}
    members.update((m.kind, m) for m in (found.primary, *found.symptoms))
    content = {found.kind: found.content} if found.content is not None else {}
    return Incident.of(members.values(), content)


# --- continuity ------------------------------------------------------------------------

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class OpenIncident(Generic[R]):
    """An open incident of a campaign: ``ref`` is the caller's handle (a row id)."""

    ref: R
    state: AlertState
    incident: Incident


@dataclass(frozen=True, slots=True)
class Folded(Generic[R]):
    """What one group of findings does to a campaign's open incidents.

    ``resolved`` are the open incidents already past their quiet period: had the hour
    before been processed, they would have been resolved, so they close now and take no
    part. ``continued`` is the open incident the group belongs to (None: ``incident``
    opens). ``step`` is the lifecycle's verdict and ``incident`` what the open row says
    afterwards.
    """

    resolved: tuple[OpenIncident[R], ...]
    continued: OpenIncident[R] | None
    step: Step
    incident: Incident


def continuing(
    open_incidents: Sequence[OpenIncident[R]], found: Incident
) -> OpenIncident[R] | None:
    """The open incident ``found`` continues: one with a kind that is one of its kinds, or
    directly explains one (a tracking outage already open takes in the drop in
    conversions that shows hours later). Of several, the one already covering its
    primary, then the one sharing most kinds, then the oldest. (The others stay open,
    and resolve once quiet.)"""
    sharing = [
        o
        for o in open_incidents
        if any(follows(a, b) for a in o.incident.kinds for b in found.kinds)
    ]
    if not sharing:
        return None
    return min(
        sharing,
        key=lambda o: (
            found.kind not in o.incident.kinds,
            -len(o.incident.kinds & found.kinds),
            o.state.first_seen_hour,
        ),
    )


def fold(
    open_incidents: Sequence[OpenIncident[R]],
    found: Incident,
    hour: datetime,
    quiet_hours: int = QUIET_HOURS,
) -> Folded[R]:
    """Apply ``found``, seen in ``hour``, to the campaign's open incidents."""
    before = QuietHour(hour - HOUR)
    past = [
        advance(o.state, before, quiet_hours).transition is Transition.RESOLVE
        for o in open_incidents
    ]
    stale = tuple(o for o, quiet in zip(open_incidents, past, strict=True) if quiet)
    live = [o for o, quiet in zip(open_incidents, past, strict=True) if not quiet]
    current = continuing(live, found)
    sighting = Sighting(hour, found.severity)
    if current is None:
        return Folded(stale, None, advance(None, sighting, quiet_hours), found)
    step = advance(current.state, sighting, quiet_hours)
    return Folded(stale, current, step, merge(current.incident, found))
