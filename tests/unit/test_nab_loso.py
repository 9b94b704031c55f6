"""Leave one NAB series out: a setting is chosen on the other series, scored on the one left
out (pure; the replay itself is not run here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.nab_data import NabSeries, campaign_id_of
from bench.nab_offline import choose, leave_one_out, sim_holds

HOUR = timedelta(hours=1)
T0 = datetime(2011, 7, 1, tzinfo=UTC)


def _series(name: str, *window_starts: int) -> NabSeries:
    windows = [(T0 + h * HOUR, T0 + (h + 10) * HOUR) for h in window_starts]
    return NabSeries(name, campaign_id_of(name), [], windows)


def _hits(*hours: int) -> list[tuple[str, datetime]]:
    return [("cpc_up", T0 + h * HOUR) for h in hours]


# Three series, one window each at hour 100; "a" catches every window with a false alert
# on each series, "b" catches every window cleanly except on "z", where it misses.
DATA = [_series("x", 100), _series("y", 100), _series("z", 100)]
OPENED = {
    "a": {"x": _hits(100, 500), "y": _hits(100, 500), "z": _hits(100, 500)},
    "b": {"x": _hits(100), "y": _hits(100), "z": []},
}


def test_choose_prefers_precision_among_settings_with_enough_recall() -> None:
    name, score = choose(DATA[:2], OPENED, {"a": True, "b": True})
    assert name == "b"
    assert (score.precision, score.recall) == (1.0, 1.0)


def test_choose_skips_a_setting_whose_recall_is_too_low() -> None:
    # On y and z, "b" finds one window of two (recall 0.5): "a" is the only one with recall.
    name, score = choose(DATA[1:], OPENED, {"a": True, "b": True})
    assert name == "a"
    assert score.recall == 1.0


def test_choose_skips_a_setting_the_simulator_rejects() -> None:
    name, _ = choose(DATA[:2], OPENED, {"a": True, "b": False})
    assert name == "a"


def test_choose_falls_back_to_the_first_admissible_setting_when_none_has_the_recall() -> None:
    opened = {"a": {"x": []}, "b": {"x": []}}
    name, _ = choose(DATA[:1], opened, {"a": False, "b": True})
    assert name == "b"
    with pytest.raises(ValueError):
        choose(DATA[:1], opened, {})


# Five series, one window each at hour 100: "wide" finds all five with one false alert
# (precision 5/6, recall 1.0), "narrow" finds four cleanly (precision 1.0, recall 0.8),
# "noisy" finds all five with four false alerts (precision 5/9, recall 1.0).
FIVE = [_series(name, 100) for name in "pqrst"]
BY_RECALL = {
    "narrow": {"p": _hits(100), "q": _hits(100), "r": _hits(100), "s": _hits(100), "t": []},
    "wide": {
        "p": _hits(100, 500),
        "q": _hits(100),
        "r": _hits(100),
        "s": _hits(100),
        "t": _hits(100),
    },
    "noisy": {name: _hits(100, 500) if name != "t" else _hits(100) for name in "pqrst"},
}


def test_choose_prefers_recall_once_precision_reaches_its_target() -> None:
    name, score = choose(FIVE, BY_RECALL, {"narrow": True, "wide": True, "noisy": True})
    assert name == "wide"
    assert (score.precision, score.recall) == (pytest.approx(5 / 6), 1.0)


def test_choose_prefers_precision_when_more_recall_would_cost_the_precision_target() -> None:
    name, _ = choose(FIVE, BY_RECALL, {"narrow": True, "wide": False, "noisy": True})
    assert name == "narrow"
    # with precision's target out of reach for all, the best precision is chosen
    name, _ = choose(FIVE, BY_RECALL, {"narrow": True, "wide": True}, min_precision=1.01)
    assert name == "narrow"


def test_choose_breaks_a_tie_for_the_earlier_setting() -> None:
    # "b" and "c" open the same alerts: the one listed first (nearer the defaults) is kept.
    same = {"a": OPENED["a"], "b": OPENED["b"], "c": OPENED["b"]}
    assert choose(DATA[:2], same, {"a": True, "b": True, "c": True})[0] == "b"
    reordered = {"a": OPENED["a"], "c": OPENED["b"], "b": OPENED["b"]}
    assert choose(DATA[:2], reordered, {"a": True, "b": True, "c": True})[0] == "c"


def test_each_series_is_scored_with_the_setting_chosen_without_it() -> None:
    loso = leave_one_out(DATA, OPENED, {"a": True, "b": True})
    chosen = {fold.held_out: fold.setting for fold in loso.folds}
    # x out: y and z need "a"; y out: likewise; z out: "b" is perfect on x and y.
    assert chosen == {"x": "a", "y": "a", "z": "b"}
    # Held out: x and y under "a" give 2 alerts, 1 true each; z under "b" gives none.
    assert (loso.alerts, loso.true_alerts) == (4, 2)
    assert (loso.windows, loso.windows_found) == (3, 2)
    assert loso.precision == 0.5
    assert loso.recall == pytest.approx(2 / 3)


def test_the_simulator_holds_only_when_precision_and_recall_both_reach_the_floor() -> None:
    assert sim_holds({"precision": 0.95, "recall": 0.9})
    assert not sim_holds({"precision": 0.95, "recall": 0.89})
    assert not sim_holds({"precision": 0.8, "recall": 1.0})
