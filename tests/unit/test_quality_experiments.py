"""The experiments benchmark runs, and its figures say what its docstring promises."""

from __future__ import annotations

from bench.quality_experiments import figures


def test_figures_show_peeking_error_rates_and_power() -> None:
    result = figures(seed=3, sims=300)
    for name in (
        "aa_false_positive_rate",
        "aa_false_positive_rate_naive",
        "experiment_power",
        "experiment_power_sequential",
        "experiment_power_sequential_planned",
        "aa_familywise_error_holm",
    ):
        value = result[name]
        assert isinstance(value, float) and 0.0 <= value <= 1.0, name
    # naive peeking errs several times as often as the sequential analysis
    assert result["aa_false_positive_rate_naive"] > 3 * result["aa_false_positive_rate"]  # type: ignore[operator]
    # looking early costs power within the fixed-horizon sample
    assert result["experiment_power_sequential"] < result["experiment_power"]  # type: ignore[operator]
