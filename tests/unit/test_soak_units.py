"""The soak's own arithmetic: its mix, its schedule, its percentiles and its readings."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from bench import soak
from tests.clock import simulated_now


def _load(concurrency: int = 8, campaigns: int = 2) -> soak.Load:
    first_hour = simulated_now() - timedelta(days=3)
    owned = [(uuid.uuid4(), 100.0 + i) for i in range(campaigns)]
    return soak.Load(
        cast(Any, None), cast(Any, None), cast(Any, None), owned, first_hour, concurrency
    )


def test_the_mix_is_six_metrics_four_decisions_one_repeat_nine_reads() -> None:
    assert len(soak.MIX) == 20
    counts = {kind: soak.MIX.count(kind) for kind in set(soak.MIX)}
    assert counts == {"metrics": 6, "decision": 4, "repeat": 1, "read": 9}


def test_percentile_is_nearest_rank() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert soak.percentile(ordered, 0.5) == 50.0
    assert soak.percentile(ordered, 0.99) == 99.0
    assert soak.percentile([7.0], 0.99) == 7.0
    assert soak.percentile([], 0.5) is None


def test_rss_is_read_from_proc_and_none_for_a_process_that_is_gone() -> None:
    mine = soak.rss_bytes(os.getpid())
    assert mine is not None and mine > 1024 * 1024
    assert soak.rss_bytes(2**22 + 12345) is None


def test_decisions_alternate_each_campaigns_budget_and_carry_their_key() -> None:
    load = _load(campaigns=2)
    writes = [load._decision() for _ in range(6)]
    (first, opening_a), (second, opening_b) = load.campaigns
    targets = [
        (w.body["context_data"]["campaign_id"], w.body["context_data"]["action"]["to"])
        for w in writes
    ]
    assert targets == [
        (str(first), round(opening_a * 0.9, 2)),
        (str(second), round(opening_b * 0.9, 2)),
        (str(first), opening_a),
        (str(second), opening_b),
        (str(first), round(opening_a * 0.9, 2)),
        (str(second), round(opening_b * 0.9, 2)),
    ]
    assert all(w.body["context_data"]["soak"] == w.key for w in writes)
    assert len({w.key for w in writes}) == 6


def test_metrics_batches_move_forward_an_hour_at_a_time() -> None:
    load = _load()
    hours = [{m["hour"] for m in load._metrics().body["metrics"]} for _ in range(3)]
    assert all(len(h) == 1 for h in hours)
    parsed = [datetime.fromisoformat(h.pop()) for h in hours]
    assert parsed[1] - parsed[0] == parsed[2] - parsed[1] == timedelta(hours=1)
    assert len(load._metrics().body["metrics"]) == soak.METRICS_CAMPAIGNS


def test_a_soak_plans_enough_past_hours_for_every_batch() -> None:
    args = soak.parse(["--minutes", "10", "--rate", "20"])
    batches = 20 * 600 * 6 // 20
    assert soak.hours_needed(args) >= batches


def test_unanswered_and_5xx_writes_are_unsettled_4xx_are_not() -> None:
    write = soak.Write("decision", "k", "/api/ai/decisions", {})
    assert write.unsettled and not write.accepted
    write.status = 503
    assert write.unsettled and not write.accepted
    write.status = 422
    assert not write.unsettled and not write.accepted
    write.status = 201
    assert write.accepted and not write.unsettled


async def test_the_schedule_is_open_loop_requests_start_on_time_and_excess_is_shed() -> None:
    load = _load(concurrency=2)
    started: list[float] = []
    stuck = asyncio.Event()

    def request(scheduled: float) -> asyncio.Task[None]:
        started.append(scheduled)
        return asyncio.create_task(stuck.wait())  # type: ignore[arg-type]

    load._request = request  # type: ignore[method-assign]
    await load.run(rate=100.0, seconds=0.2)
    # Two requests hang: the schedule does not wait for them, it sheds the rest.
    assert load.sent == 20
    assert len(started) == 2
    assert load.total.errors["shed"] == 18
    stuck.set()
    await load.finish()


def test_memory_growth_is_measured_from_minute_five_when_the_run_is_long_enough() -> None:
    assert soak.memory_baseline_minute(soak.parse(["--minutes", "60"])) == 5
    assert (
        soak.memory_baseline_minute(soak.parse(["--minutes", "60", "--memory-from-minute", "10"]))
        == 10
    )
    assert soak.memory_baseline_minute(soak.parse(["--minutes", "5"])) == 2
    assert soak.memory_baseline_minute(soak.parse(["--minutes", "2"])) is None


def test_a_window_counts_the_metric_rows_it_accepted() -> None:
    window = soak.Window(0.0)
    window.latencies.append(0.01)
    window.metric_rows += 20
    assert window.figures(1.0)["metric_rows"] == 20
