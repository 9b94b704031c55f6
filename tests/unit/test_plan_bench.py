"""The plan bench's per-seed verdicts follow from its own figures, and several seeds run
in one call, one line each."""

from __future__ import annotations

import json

import pytest

from bench import quality_plan


def test_lift_captured_and_worse_than_static_follow_from_the_lifts() -> None:
    figures = quality_plan.figures(3, campaigns=3, days=2, warmup_days=8)
    lift = figures["reallocation_roas_lift"]
    oracle = figures["oracle_roas_lift"]
    assert isinstance(lift, float) and isinstance(oracle, float)
    assert oracle > 0
    assert figures["lift_captured"] == pytest.approx(lift / oracle, abs=0.01)
    assert figures["worse_than_static"] is (lift < -quality_plan.WORSE_THAN_STATIC)
    assert figures["guard_held_days"] in (0, 1, 2)


def test_several_seeds_print_one_line_each(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []

    def fake(seed: int, campaigns: int, days: int) -> dict[str, object]:
        ran.append(seed)
        return {name: seed for name in quality_plan.SUMMARY}

    monkeypatch.setattr(quality_plan, "figures", fake)
    assert quality_plan.main(["--seeds", "41,43", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ran == [41, 43]
    assert [json.loads(line)["seed"] for line in lines] == [41, 43]
    assert quality_plan.main(["--seeds", "47"]) == 0
    assert capsys.readouterr().out.startswith("seed=47 reallocation_roas_lift=47")
