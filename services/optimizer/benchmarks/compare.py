"""A campaign against the benchmarks that apply to it: which ones, and its tier in each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.optimizer.benchmarks.tiers import tier
from shared.contracts.benchmarks import HIGHER_IS_BETTER, PERCENTILES


def _newest(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        row["period_end"] is not None,
        row["period_end"],
        row["edition"] or "",
        row["created_at"],
    )


def applicable(rows: Iterable[Mapping[str, Any]], industry: str | None) -> list[dict[str, Any]]:
    """The benchmarks to compare with: per kind, metric, platform and source, the one of
    the tenant's industry if there is one (else the one across all industries), of the
    newest period and edition."""
    chosen: dict[tuple[str, str, str, str | None], Mapping[str, Any]] = {}
    for row in rows:
        if row["industry"] not in (industry, "all"):
            continue
        key = (row["source_kind"], row["metric"], row["platform"], row["source"])
        held = chosen.get(key)
        rank = (row["industry"] == industry, *_newest(row))
        if held is None or rank > (held["industry"] == industry, *_newest(held)):
            chosen[key] = row
    return sorted((dict(r) for r in chosen.values()), key=_order)


def _order(row: Mapping[str, Any]) -> tuple[str, ...]:
    kinds = ("published", "own_history", "peer_pool")
    return (
        row["metric"],
        str(kinds.index(row["source_kind"])),
        row["platform"],
        row["source"] or "",
    )


def comparisons(
    values: Mapping[str, float | None], benchmarks: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The campaign's tier per metric against each benchmark."""
    out = []
    for bench in benchmarks:
        metric = bench["metric"]
        value = values.get(metric)
        cuts = {p: bench[f"p{p}"] for p in PERCENTILES}
        found = tier(metric, value, cuts) if value is not None else None
        out.append(
            {
                "metric": metric,
                "kind": bench["source_kind"],
                "higher_is_better": HIGHER_IS_BETTER[metric],
                "campaign_value": value,
                "tier": found.name if found else None,
                "decided_by": [p for p in PERCENTILES if cuts[p] is not None],
                "benchmark": dict(bench),
            }
        )
    return out
