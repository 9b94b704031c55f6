"""The Grafana dashboard asks only for metrics and labels the services really expose.

What a service exposes is read from its own telemetry registry, the one ``/metrics``
serves: every metric is given one child, and the exposition text is parsed back, so the
sample names (``_total``, ``_bucket``...) and their labels are exactly what Prometheus
would scrape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from shared.telemetry import Telemetry

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "adpilot.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"

# PromQL's functions and aggregations (a call to anything else is a mistake), and the
# words that are neither metric nor label.
FUNCTIONS = frozenset(
    """abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max
    clamp_min count count_over_time count_values day_of_month day_of_week delta deriv exp
    floor group histogram_quantile holt_winters idelta increase irate label_join label_replace
    last_over_time ln log10 log2 max max_over_time min min_over_time predict_linear quantile
    quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev stddev_over_time
    stdvar sum sum_over_time time timestamp topk vector""".split()
)
KEYWORDS = frozenset(
    "by without on ignoring group_left group_right bool and or unless offset".split()
)
LABEL_LISTS = frozenset("by without on ignoring group_left group_right".split())
TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)"""
    r"""|(?P<range>\[[^\]]*\])"""
    r"""|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"""
    r"""|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"""
    r"""|(?P<op>=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>]))"""
)


def exposed() -> dict[str, frozenset[str]]:
    """Every sample name a service's ``/metrics`` can show, with its label names."""
    telemetry = Telemetry("gateway")
    for metric in vars(telemetry).values():
        if isinstance(metric, MetricWrapperBase):
            metric.labels(*("x" for _ in metric._labelnames))
    text = generate_latest(telemetry.registry).decode()
    return {
        sample.name: frozenset(sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@dataclass
class Query:
    """What one PromQL expression refers to."""

    metrics: list[str] = field(default_factory=list)
    selectors: list[tuple[str, str]] = field(default_factory=list)  # (metric, label)
    grouping: set[str] = field(default_factory=set)  # by (...)
    listed: set[str] = field(default_factory=set)  # by, without, on, ignoring, group_*


def tokens(expr: str) -> Iterator[tuple[str, str]]:
    # Grafana's variables stand for values: a range or a quoted label value.
    expr = re.sub(r"\$\{?\w+\}?", "1m", expr)
    position = 0
    while position < len(expr.rstrip()):
        match = TOKEN.match(expr, position)
        assert match, f"cannot read {expr[position:]!r} in {expr!r}"
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group(kind)
        position = match.end()


def parse(expr: str) -> Query:
    query = Query()
    found = list(tokens(expr))
    i = 0
    while i < len(found):
        kind, text = found[i]
        following = found[i + 1][1] if i + 1 < len(found) else ""
        if kind == "name" and text in LABEL_LISTS and following == "(":
            i += 2
            while found[i][1] != ")":
                if found[i][0] == "name":
                    query.listed.add(found[i][1])
                    if text == "by":
                        query.grouping.add(found[i][1])
                i += 1
        elif kind == "name" and following == "(":
            assert text in FUNCTIONS, f"{text}() is not a PromQL function: {expr}"
        elif kind == "name" and text in FUNCTIONS and following in ("by", "without"):
            pass  # an aggregation, its grouping first: sum by (route) (...)
        elif kind == "name" and text not in KEYWORDS:
            query.metrics.append(text)
            if following == "{":
                i += 2
                while found[i][1] != "}":
                    if found[i][0] == "name":
                        query.selectors.append((text, found[i][1]))
                    i += 1
        elif text == "{":
            raise AssertionError(f"a selector without a metric name: {expr}")
        i += 1
    return query


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def targets() -> list[tuple[str, dict[str, Any]]]:
    return [(p["title"], t) for p in panels() for t in p["targets"]]


def test_the_parser_finds_metrics_labels_and_groupings() -> None:
    query = parse(
        'histogram_quantile(0.99, sum by (service, le) (rate(adpilot_x_bucket{service=~"$s", '
        'route="/a/{id}"}[$__rate_interval]))) / on (service) adpilot_y'
    )
    assert query.metrics == ["adpilot_x_bucket", "adpilot_y"]
    assert query.selectors == [("adpilot_x_bucket", "service"), ("adpilot_x_bucket", "route")]
    assert query.grouping == {"service", "le"}
    with pytest.raises(AssertionError, match="not a PromQL function"):
        parse("sums(adpilot_y)")


def test_the_registry_is_read_as_prometheus_scrapes_it() -> None:
    metrics = exposed()
    assert metrics["adpilot_http_requests_total"] == {"service", "method", "route", "status"}
    assert "le" in metrics["adpilot_http_request_seconds_bucket"]
    assert "adpilot_http_requests" not in metrics  # a counter is scraped as ..._total


@pytest.mark.parametrize(("panel", "target"), targets(), ids=[t for t, _ in targets()])
def test_every_query_asks_for_metrics_and_labels_the_services_expose(
    panel: str, target: dict[str, Any]
) -> None:
    metrics = exposed()
    query = parse(target["expr"])
    assert query.metrics, f"{panel}: no metric in {target['expr']}"
    for name in query.metrics:
        assert name in metrics, f"{panel}: {name} is not a metric any service exposes"
    for name, label in query.selectors:
        assert label in metrics[name], f"{panel}: {name} has no label {label!r}"
    carried = frozenset().union(*(metrics[name] for name in query.metrics))
    assert query.listed <= carried, f"{panel}: {query.listed - carried} on no metric"
    # A legend names only labels the result still carries after aggregation.
    legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    kept = query.grouping - {"le"} if query.grouping else carried
    assert legend <= kept, f"{panel}: legend {legend - kept} is aggregated away"


def test_template_variables_read_exposed_metrics_and_labels() -> None:
    metrics = exposed()
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        definition = variable["definition"]
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", definition)
        assert match, definition
        assert match[2] in metrics[match[1]], definition


def test_the_panels_an_on_call_person_opens_first_are_there() -> None:
    queries = {p["title"]: [parse(t["expr"]) for t in p["targets"]] for p in panels()}
    wanted = {
        # title: (a metric it shows, the label its lines are told apart by)
        "Request rate per route": ("adpilot_http_requests_total", "route"),
        "p99 latency per route": ("adpilot_http_request_seconds_bucket", "route"),
        "Queue depth per queue": ("adpilot_consumer_lag", "service"),
        "Dead letters per queue": ("adpilot_dead_letters", "service"),
        "Outbox lag": ("adpilot_outbox_oldest_age_seconds", "service"),
        "Changes applied and failed": ("adpilot_events_total", "type"),
        "Decision cycles completed": ("adpilot_events_total", None),
    }
    for title, (metric, label) in wanted.items():
        (first, *_) = queries[title]
        assert metric in first.metrics, title
        assert label is None or label in first.grouping, title
    p99 = next(p for p in panels() if p["title"] == "p99 latency per route")
    assert p99["targets"][0]["expr"].startswith("histogram_quantile(0.99,")
    changes = next(p for p in panels() if p["title"] == "Changes applied and failed")
    assert "optimization[.](applied|failed|rolled_back)" in changes["targets"][0]["expr"]


def test_panels_use_the_provisioned_prometheus_and_do_not_overlap() -> None:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert (source["name"], source["type"]) == ("Prometheus", "prometheus")
    (variable,) = [v for v in dashboard()["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    assert variable["current"]["value"] == source["name"]
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for p in dashboard()["panels"]:
        box = p["gridPos"]
        assert box["x"] + box["w"] <= 24, p["title"]
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells
    for p in panels():
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert [t["refId"] for t in p["targets"]] == [chr(65 + i) for i in range(len(p["targets"]))]
