"""Experiments as plain data: planning the sample, checking submitted results, shaping the
analysis, and the rule that concludes an experiment on its own. No I/O; the statistics are
:mod:`services.optimizer.experiments.stats`.

The rule for concluding on its own (experiments whose results are pulled from the ad
platform, with ``auto_conclude``), checked at every pull:

1. a **winner**: the sequential analysis (confidence sequences, valid at every look) calls
   a variant significantly better than the control at the experiment's significance, with
   the sample-ratio check passing: concluded with that winner;
2. else the **planned sample** is in (every variant has the users per variant the plan
   asked for) or the platform **ended** the split: concluded with no winner; the control
   stays.

Before either, an experiment whose planned sample is in moves to ``analyzing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.optimizer.experiments import stats
from services.optimizer.experiments.stats import Analysis, VariantData

ConclusionRule = Literal["winner", "planned_sample", "platform_ended"]


class ResultsInvalid(ValueError):
    """Results that do not fit the experiment; ``fields`` name each problem by its path."""

    def __init__(self, fields: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{f['field']}: {f['message']}" for f in fields))
        self.fields = fields


def variant_names(variant_configs: Any) -> list[str]:
    """The experiment's variant names, the control first."""
    if not isinstance(variant_configs, list):
        return []
    return [str(v["name"]) for v in variant_configs if isinstance(v, dict) and "name" in v]


def normalised_split(split: Sequence[float] | None, variants: int) -> list[float]:
    """The planned shares, summing to 1 (equal when none was given)."""
    if not split:
        return [1.0 / variants] * variants
    total = float(sum(split))
    return [float(x) / total for x in split]


def sample_plan(values: Mapping[str, Any]) -> dict[str, Any]:
    """``sample_size_calculation`` for an experiment's planning fields: users per variant
    and, with daily traffic, days. Raises ``ValueError`` for a plan that cannot be met."""
    variants = len(values["variant_configs"])
    confidence = float(values["statistical_significance_threshold"])
    planned = stats.sample_size(
        metric=values["metric_kind"],
        baseline=float(values["baseline_value"]),
        mde=float(values["minimum_detectable_effect"]),
        mde_kind=values["mde_kind"],
        std=values.get("baseline_std"),
        alpha=stats.alpha_from_confidence(confidence),
        power=float(values["power"]),
        variants=variants,
        daily_users=values.get("daily_traffic"),
        # The analysis is sequential, and the rule stops at the planned sample at the
        # latest: planned so, the last look alone has the power asked for.
        sequential=True,
    )
    plan = planned.as_json()
    split = normalised_split(values.get("traffic_split"), variants)
    daily = values.get("daily_traffic")
    if daily:
        # An uneven split fills its smallest variant last: that variant sets the days.
        plan["days"] = stats.days_needed(planned.users_per_variant, 1, float(daily) * min(split))
    plan["method"] = (
        "sample for the sequential analysis: power at the planned end; it may stop earlier"
    )
    return plan


def planned_users(sample_size_calculation: Any, key: str = "users_per_variant") -> int | None:
    if isinstance(sample_size_calculation, dict):
        users = sample_size_calculation.get(key)
        if isinstance(users, int | float) and not isinstance(users, bool):
            return int(users)
    return None


def variant_data(
    submitted: Sequence[Mapping[str, Any]], names: Sequence[str], metric: str
) -> list[VariantData]:
    """The submitted aggregates in the experiment's variant order, or
    :class:`ResultsInvalid` naming each problem (``variants.<i>.<field>``)."""
    problems: list[dict[str, Any]] = []
    by_name: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for i, entry in enumerate(submitted):
        name = str(entry["name"])
        if name not in names:
            problems.append(
                {
                    "field": f"variants.{i}.name",
                    "message": f"unknown variant {name!r}; the experiment has {', '.join(names)}",
                }
            )
            continue
        if name in by_name:
            problems.append({"field": f"variants.{i}.name", "message": f"{name!r} given twice"})
            continue
        by_name[name] = (i, entry)
        if metric == "rate":
            if entry.get("conversions") is None:
                problems.append(
                    {"field": f"variants.{i}.conversions", "message": "required for a rate metric"}
                )
            for extra in ("sum", "sum_squares"):
                if entry.get(extra) is not None:
                    problems.append(
                        {
                            "field": f"variants.{i}.{extra}",
                            "message": "not for a rate metric; send conversions",
                        }
                    )
        else:
            for needed in ("sum", "sum_squares"):
                if entry.get(needed) is None:
                    problems.append(
                        {"field": f"variants.{i}.{needed}", "message": "required for a mean metric"}
                    )
            if entry.get("conversions") is not None:
                problems.append(
                    {
                        "field": f"variants.{i}.conversions",
                        "message": "not for a mean metric; send sum and sum_squares",
                    }
                )
    missing = [n for n in names if n not in by_name]
    if missing:
        problems.append({"field": "variants", "message": f"missing variants: {', '.join(missing)}"})
    cuped = [e.get("pre_sum") is not None for _, e in by_name.values()]
    if any(cuped) and not all(cuped):
        problems.append(
            {"field": "variants", "message": "CUPED aggregates must be given for every variant"}
        )
    if problems:
        raise ResultsInvalid(problems)
    return [
        VariantData(
            name=name,
            users=int(entry["users"]),
            conversions=_int_or_none(entry.get("conversions")),
            sum=_float_or_none(entry.get("sum")),
            sum_squares=_float_or_none(entry.get("sum_squares")),
            pre_sum=_float_or_none(entry.get("pre_sum")),
            pre_sum_squares=_float_or_none(entry.get("pre_sum_squares")),
            cross_sum=_float_or_none(entry.get("cross_sum")),
        )
        for name in names
        for _, entry in [by_name[name]]
    ]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def stored_variants(data: Sequence[VariantData]) -> list[dict[str, Any]]:
    """Aggregates as the results history keeps them (only the fields given)."""
    out = []
    for v in data:
        entry: dict[str, Any] = {"name": v.name, "users": v.users}
        for key in ("conversions", "sum", "sum_squares", "pre_sum", "pre_sum_squares", "cross_sum"):
            value = getattr(v, key)
            if value is not None:
                entry[key] = value
        out.append(entry)
    return out


@dataclass(frozen=True, slots=True)
class Setup:
    """What an analysis of one experiment needs besides its results."""

    metric: Literal["rate", "mean"]
    alpha: float
    split: list[float]
    planned_users_per_variant: int | None
    # Where the confidence sequences are tightest: the plan's end (control and one variant).
    sequential_tuning: int | None = None

    @classmethod
    def of(cls, experiment: Mapping[str, Any]) -> Setup:
        names = variant_names(experiment["variant_configs"])
        threshold = experiment["statistical_significance_threshold"]
        return cls(
            metric=experiment["metric_kind"],
            alpha=stats.alpha_from_confidence(float(threshold if threshold is not None else 0.95)),
            split=normalised_split(experiment.get("traffic_split"), len(names)),
            planned_users_per_variant=planned_users(experiment.get("sample_size_calculation")),
            sequential_tuning=planned_users(
                experiment.get("sample_size_calculation"), "sequential_tuning"
            ),
        )


def run_analysis(data: Sequence[VariantData], setup: Setup, *, sequential: bool = True) -> Analysis:
    """The statistics' analysis with the experiment's metric, significance and split; the
    confidence sequences are tuned to the planned sample when there is one."""
    tuning: dict[str, Any] = {}
    if setup.sequential_tuning:
        tuning["sequential_tuning"] = setup.sequential_tuning
    elif setup.planned_users_per_variant:
        tuning["sequential_tuning"] = setup.planned_users_per_variant * 2
    return stats.analyze(
        data,
        metric=setup.metric,
        alpha=setup.alpha,
        planned_split=setup.split,
        sequential=sequential,
        **tuning,
    )


def sample_reached(data: Sequence[VariantData], setup: Setup) -> bool:
    planned = setup.planned_users_per_variant
    return planned is not None and all(v.users >= planned for v in data)


def analysis_json(
    experiment_id: Any, look: int, analysis: Analysis, data: Sequence[VariantData], setup: Setup
) -> dict[str, Any]:
    """The analysis as the API answers it and the history keeps it."""
    body = analysis.as_json()
    return {
        **body,
        "experiment_id": str(experiment_id),
        "look": look,
        "planned_users_per_variant": setup.planned_users_per_variant,
        "planned_sample_reached": sample_reached(data, setup),
    }


@dataclass(frozen=True, slots=True)
class AutoConclusion:
    rule: ConclusionRule
    winner: str | None
    detail: str


def auto_conclusion(
    analysis: Mapping[str, Any], *, sample_in: bool, platform_ended: bool
) -> AutoConclusion | None:
    """Whether the rule in the module's docstring concludes the experiment now."""
    winner = analysis.get("winner_variant")
    if winner is not None:
        return AutoConclusion(
            "winner",
            str(winner),
            f"the sequential analysis found {winner} better than the control at look "
            f"{analysis.get('look')}",
        )
    if sample_in:
        return AutoConclusion(
            "planned_sample", None, "the planned sample is in and no variant beat the control"
        )
    if platform_ended:
        return AutoConclusion(
            "platform_ended", None, "the platform ended the split before a winner was found"
        )
    return None


def winner_confidence(analysis: Mapping[str, Any], winner: str | None) -> float | None:
    """``confidence_level`` (percent): one minus the winner's adjusted p-value, the
    confidence at which it was called; for no winner, None."""
    if winner is None:
        return None
    for entry in analysis.get("variants", ()):
        if entry.get("name") == winner:
            p = entry.get("p_value_adjusted", entry.get("p_value"))
            if isinstance(p, int | float):
                return round(min(99.99, max(0.0, (1.0 - float(p)) * 100.0)), 2)
    return None


def winner_summary(analysis: Mapping[str, Any] | None, winner: str | None) -> dict[str, Any]:
    """The winner's lift and interval, as the expected impact of applying it."""
    found: dict[str, Any] = {}
    if analysis is not None and winner is not None:
        for entry in analysis.get("variants", ()):
            if entry.get("name") == winner:
                found = entry
    return {
        "metric": "conversion_rate" if analysis and analysis.get("metric") == "rate" else "mean",
        "expected_change": found.get("lift"),
        "interval": {"low": found.get("ci_low"), "high": found.get("ci_high")},
        "chance_to_win": found.get("chance_to_win"),
        "source": "experiment",
    }
