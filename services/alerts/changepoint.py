"""Is the newest stretch of an hourly series unusual for *this* series? (pure, numpy only)

The series is modelled on the log scale as

    log x[t] = profile[hour of day] + level[t] + noise[t]

* ``profile`` -- the daily cycle: per hour of day, the median over the history.
* ``level`` -- where the series has been lately: the median of the de-seasonalised
  values over ``level_hours`` hours that end ``lag`` hours before ``t``. The lag keeps
  the stretch under test out of its own reference, and slow trends are absorbed.
* ``noise`` -- sampling noise that the caller knows per hour (a count of n events
  wobbles by about 1/sqrt(n) on the log scale) plus the series' own extra spread
  ``tau``, fitted robustly (MAD) on the history so that ordinary spikiness is normal.

Standardised residuals ``z`` then feed a scan over windows of k hours ending at the
newest hour: ``S_k = sum(z) / sqrt(k)`` divided by how widely ``S_k`` itself ranged in
the history (which absorbs autocorrelation: slowly wandering series get no credit for
long windows). This is the generalised likelihood ratio test for a shift that began k
hours ago, evaluated for each candidate k. A window counts only when the move is also
material in at least half of its hours, so one wild hour cannot pass for a level shift;
a single hour on its own needs a far higher score.

Where a value is a count of events (conversions, or conversions per click), few events
make the log-scale test blind: an hour with three conversions can hardly fall further.
``scan`` then also sums the window's events and compares the sum with the count the
model expects, under a negative binomial whose variance has three parts: Poisson
sampling, the series' own extra spread ``tau`` (per hour), and the uncertainty of the
baseline itself (shared by the whole window). A collapse from an expected 12 to 2 over
three hours is then as plain as it is to a person, while ordinary wobble is not. The
tail probability becomes a normal score, divided by how widely the same score ranged
in the history when that was wider than it should be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

MAD_TO_SIGMA = 1.482602218505602


@dataclass(frozen=True, slots=True)
class ScanSettings:
    windows: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12)
    # Scores (in calibrated standard deviations) a window of k hours must reach:
    # single_z for one hour, falling towards sustained_z as the window grows.
    single_z: float = 6.5
    sustained_z: float = 6.0
    # Relative change each counted hour must show: a lone hour must reach 2.5x
    # (or fall by 60%); in longer windows at least half the hours must move this much.
    single_change: float = 1.5
    sustained_change: float = 0.6
    level_hours: int = 24
    min_days: int = 5
    # Smallest extra spread assumed, on the log scale (about 5%).
    tau_floor: float = 0.05
    # The count test (for values that are counts of events): the score its tail
    # probability must reach, for a lone hour and for a window of many hours.
    count_single_z: float = 6.5
    count_z: float = 4.0
    # The newest hour must itself sit at least this far (normal score) on the moved side.
    count_newest_z: float = 1.0

    @property
    def lag(self) -> int:
        return max(self.windows)

    def threshold(self, k: int) -> float:
        return self.sustained_z + (self.single_z - self.sustained_z) / k

    def min_change(self, k: int) -> float:
        return self.single_change if k == 1 else self.sustained_change

    def count_threshold(self, k: int) -> float:
        return self.count_z + (self.count_single_z - self.count_z) / k


@dataclass(frozen=True, slots=True)
class Shift:
    """The strongest window that passed: its length, calibrated score and size."""

    hours: int
    score: float
    threshold: float
    # exp(mean log residual over the window) - 1: the typical relative change.
    relative_change: float
    # What the model expected for the newest hour, and what the window held on average.
    expected: float
    observed: float
    # What the model expected for the window, on average (observed / (1 + relative_change)).
    baseline: float


@dataclass(frozen=True, slots=True)
class Fit:
    """Whether the history supports a baseline, with the sizes that say so."""

    ready: bool
    history_hours: int
    days_at_hour: int
    tau: float


def _nanmedian_rows(matrix: np.ndarray, min_count: int) -> np.ndarray:
    """Median of each row ignoring NaN (NaN where fewer than ``min_count`` values)."""
    ordered = np.sort(matrix, axis=1)  # NaN sorts last
    counts = np.sum(~np.isnan(matrix), axis=1)
    low = np.clip((counts - 1) // 2, 0, None)
    high = np.clip(counts // 2, 0, None)
    rows = np.arange(len(matrix))
    medians = 0.5 * (ordered[rows, low] + ordered[rows, high])
    return np.where(counts >= max(min_count, 1), medians, np.nan)


def _rolling_nanmedian(values: np.ndarray, width: int, lag: int, min_count: int) -> np.ndarray:
    """Per row of ``values`` (series by hour), the median of ``row[t - lag - width : t - lag]``
    for every t (NaN when too few)."""
    series, n = values.shape
    padded = np.concatenate([np.full((series, width + lag), np.nan), values], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)[:, :n]
    return _nanmedian_rows(windows.reshape(series * n, width), min_count).reshape(series, n)


def _daily_profile(logs: np.ndarray, hour_of_day: np.ndarray) -> np.ndarray:
    """Per row of ``logs`` (series by hour) and hour of day, the median over the days given
    (NaN where none)."""
    series = len(logs)
    first = int(hour_of_day[0])
    padded = np.concatenate([np.full((series, first), np.nan), logs], axis=1)
    padded = np.concatenate([padded, np.full((series, -padded.shape[1] % 24), np.nan)], axis=1)
    by_hour = padded.reshape(series, -1, 24).transpose(0, 2, 1).reshape(series * 24, -1)
    return _nanmedian_rows(by_hour, 1).reshape(series, 24)


def _median(values: np.ndarray) -> float:
    """The median of values without NaN (NaN if none): np.median's result, without the
    layers around it that cost more than the sort on arrays this small."""
    n = len(values)
    if n == 0:
        return math.nan
    ordered = np.sort(values)
    middle = n // 2
    if n % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def _mad_sigma(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    centre = _median(values)
    return float(MAD_TO_SIGMA * _median(np.abs(values - centre)))


def count_score(observed: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Signed normal score of event counts against a negative binomial (mid-p, pure).

    The distribution has the given mean and variance (Poisson where the variance does
    not exceed the mean). The score z has Phi(z) = P(X < observed) + P(X = observed) / 2,
    computed on the log scale so that far tails keep their precision: -4 means a count
    as low as one in 30,000, +4 as high.
    """
    observed, mean, variance = np.broadcast_arrays(
        np.asarray(observed, float), np.asarray(mean, float), np.asarray(variance, float)
    )
    below = np.empty(observed.shape)
    above = np.empty(observed.shape)
    at = np.empty(observed.shape)
    poisson = variance <= mean * (1 + 1e-9)
    # The distributions' methods take their parameters directly: a frozen distribution
    # would build its docstrings on every call, which costs more than the sums themselves.
    if np.any(poisson):
        mu = mean[poisson]
        x = observed[poisson]
        below[poisson], above[poisson], at[poisson] = (
            stats.poisson.logcdf(x - 1, mu),
            stats.poisson.logsf(x, mu),
            stats.poisson.logpmf(x, mu),
        )
    spread = ~poisson
    if np.any(spread):
        m, v = mean[spread], variance[spread]
        size, prob = m * m / (v - m), m / v
        x = observed[spread]
        below[spread], above[spread], at[spread] = (
            stats.nbinom.logcdf(x - 1, size, prob),
            stats.nbinom.logsf(x, size, prob),
            stats.nbinom.logpmf(x, size, prob),
        )
    half = math.log(0.5)
    low_tail = np.logaddexp(below, half + at)
    high_tail = np.logaddexp(above, half + at)
    return np.where(
        low_tail < high_tail, special.ndtri_exp(low_tail), -special.ndtri_exp(high_tail)
    )


@dataclass(frozen=True, slots=True)
class _Model:
    """The series on the log scale with its daily profile, recent level and spread."""

    logs: np.ndarray
    profile: np.ndarray
    level: np.ndarray
    residual: np.ndarray
    sampling: np.ndarray
    cut: int
    tau: float


def _fit(
    values: np.ndarray, sampling_sd: np.ndarray, hour_of_day: np.ndarray, settings: ScanSettings
) -> list[tuple[Fit, _Model | None]]:
    """The model of each row of ``values`` (series by hour, sharing ``hour_of_day``), fitted
    together: the medians of all the series are taken in one pass."""
    n = values.shape[1]
    lag = settings.lag
    logs = np.log(np.where(values > 0, values, np.nan))
    # The stretch under test never shapes its own baseline.
    cut = max(0, n - lag)
    history = logs[:, :cut]
    same_hour = hour_of_day[:cut] == hour_of_day[-1]
    days_at_hour = np.sum(~np.isnan(history[:, same_hour]), axis=1)
    history_hours = np.sum(~np.isnan(history), axis=1)
    fits: list[tuple[Fit, _Model | None]] = [
        (Fit(False, int(hours), int(days), math.nan), None)
        for hours, days in zip(history_hours, days_at_hour, strict=True)
    ]
    ready = np.flatnonzero((days_at_hour >= settings.min_days) & ~np.isnan(logs[:, -1]))
    if not len(ready):
        return fits
    profile = _daily_profile(history[ready], hour_of_day[:cut])
    deseasonalised = logs[ready] - profile[:, hour_of_day]
    level = _rolling_nanmedian(
        deseasonalised, settings.level_hours, lag, max(2, settings.level_hours // 2)
    )
    residual = deseasonalised - level
    for row, i in enumerate(ready):
        sampling = np.nan_to_num(sampling_sd[i], nan=0.0)
        calibration = ~np.isnan(residual[row, :cut])
        if np.sum(calibration) < settings.level_hours:
            continue
        spread = _mad_sigma(residual[row, :cut])
        typical_sampling = _median(sampling[:cut][calibration] ** 2)
        tau = math.sqrt(max(spread**2 - typical_sampling, settings.tau_floor**2))
        model = _Model(logs[i], profile[row], level[row], residual[row], sampling, cut, tau)
        fits[i] = (Fit(True, fits[i][0].history_hours, fits[i][0].days_at_hour, tau), model)
    return fits


@dataclass(frozen=True, slots=True)
class Series:
    """One hourly series to :func:`scan_all`, as :func:`scan` takes it."""

    values: np.ndarray
    sampling_sd: np.ndarray
    directions: tuple[int, ...]
    counts: np.ndarray | None = None


def scan_all(
    series: list[Series], hour_of_day: np.ndarray, settings: ScanSettings
) -> list[tuple[Fit, dict[int, Shift]]]:
    """:func:`scan` for several series over the same hours (a campaign's metrics), fitted
    together; the results are each series' own, in order."""
    if not series:
        return []
    values = np.stack([s.values for s in series])
    sampling = np.stack([s.sampling_sd for s in series])
    results: list[tuple[Fit, dict[int, Shift]]] = []
    for one, (fit, model) in zip(
        series, _fit(values, sampling, hour_of_day, settings), strict=True
    ):
        results.append((fit, {} if model is None else _shifts(model, one, hour_of_day, settings)))
    return results


def _shifts(
    model: _Model, series: Series, hour_of_day: np.ndarray, settings: ScanSettings
) -> dict[int, Shift]:
    found = _scan_logs(model, hour_of_day, series.directions, settings)
    if series.counts is not None:
        for direction, shift in _scan_counts(
            model, series.values, series.counts, hour_of_day, series.directions, settings
        ).items():
            best = found.get(direction)
            if best is None or shift.score / shift.threshold > best.score / best.threshold:
                found[direction] = shift
    return found


def scan(
    values: np.ndarray,
    sampling_sd: np.ndarray,
    hour_of_day: np.ndarray,
    directions: tuple[int, ...],
    settings: ScanSettings,
    counts: np.ndarray | None = None,
) -> tuple[Fit, dict[int, Shift]]:
    """Test the newest hour (the last element) of a positive hourly series.

    ``values`` holds one value per consecutive hour, NaN where unknown; ``sampling_sd``
    the noise each hour's value carries from sampling alone (log scale, 0 if none);
    ``hour_of_day`` each hour's hour of day; ``directions`` +1 to look for rises, -1 for
    falls. ``counts``, when given, is the number of events behind each value, which is
    then ``(count + 0.5) / exposure`` (exposure 1 for a plain count): windows are also
    tested as summed counts. Returns the fit and, per direction, the strongest window
    that passed.
    """
    return scan_all(
        [Series(np.asarray(values, float), np.asarray(sampling_sd, float), directions, counts)],
        hour_of_day,
        settings,
    )[0]


def _scan_logs(
    model: _Model, hour_of_day: np.ndarray, directions: tuple[int, ...], settings: ScanSettings
) -> dict[int, Shift]:
    logs, profile, level, residual = model.logs, model.profile, model.level, model.residual
    sampling, cut, tau = model.sampling, model.cut, model.tau
    n = len(logs)
    newest = residual[-1]
    # Only a move that is still on is reported: the newest hour must itself have moved.
    directions = tuple(d for d in directions if d * newest >= math.log1p(settings.sustained_change))
    if not directions or math.isnan(newest):
        return {}
    z = residual / np.sqrt(sampling**2 + tau**2)
    zero_filled = np.nan_to_num(z, nan=0.0)
    present = (~np.isnan(z)).astype(float)
    found: dict[int, Shift] = {}
    for k in settings.windows:
        if k > n:
            continue
        sums = np.convolve(zero_filled, np.ones(k), mode="valid")
        counts = np.convolve(present, np.ones(k), mode="valid")
        enough = counts >= max(1, math.ceil(0.75 * k))
        stats = np.full(len(sums), np.nan)
        stats[enough] = sums[enough] / np.sqrt(counts[enough])
        if math.isnan(stats[-1]):
            continue
        # stats[i] covers hours i .. i + k - 1; the history part ends before the tested stretch
        history_stats = stats[: max(0, cut - k + 1)]
        scale = 1.0
        if k > 1 and np.sum(~np.isnan(history_stats)) > 24:
            scale = max(1.0, _mad_sigma(history_stats))
        window = residual[n - k :]
        threshold = settings.threshold(k)
        needed = 1 if k == 1 else max(2, math.ceil(k / 2))
        for direction in directions:
            score = direction * stats[-1] / scale
            if score < threshold:
                continue
            moved = direction * window >= math.log1p(settings.min_change(k))
            if np.sum(moved) < needed:
                continue
            best = found.get(direction)
            if best is None or score / threshold > best.score / best.threshold:
                mean_log = float(np.nanmean(window))
                expected = float(np.exp(profile[hour_of_day[-1]] + level[-1]))
                observed = float(np.exp(np.nanmean(logs[n - k :])))
                change = math.expm1(mean_log)
                found[direction] = Shift(
                    k, float(score), threshold, change, expected, observed, observed / (1 + change)
                )
    return found


def _scan_counts(
    model: _Model,
    values: np.ndarray,
    counts: np.ndarray,
    hour_of_day: np.ndarray,
    directions: tuple[int, ...],
    settings: ScanSettings,
) -> dict[int, Shift]:
    """Windows of summed event counts against the count the model expects for them."""
    n = len(values)
    cut, tau = model.cut, model.tau
    counts = np.where(np.isnan(values), np.nan, np.asarray(counts, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = (counts + 0.5) / values
    rate = np.exp(model.profile[hour_of_day] + model.level)
    expected = np.clip(exposure * rate - 0.5, 0.05, None)
    # Variance of one hour: Poisson sampling plus the series' own spread; and the baseline
    # (a median of level_hours hours, each as noisy) is shared by the whole window.
    hour_variance = expected + tau**2 * expected**2
    head = expected[:cut]
    typical = _median(head[~np.isnan(head)])
    if math.isnan(typical):
        return {}
    shared = (math.pi / 2) * (tau**2 + 1 / max(typical, 0.5)) / settings.level_hours
    usable = ~np.isnan(counts) & ~np.isnan(expected)
    newest = count_score(counts[-1:], expected[-1:], hour_variance[-1:])[0] if usable[-1] else 0.0
    directions = tuple(d for d in directions if d * newest >= settings.count_newest_z)
    if not directions:
        return {}
    filled = {
        name: np.where(usable, a, 0.0)
        for name, a in (("c", counts), ("m", expected), ("v", hour_variance))
    }
    found: dict[int, Shift] = {}
    for k in settings.windows:
        if k > n or not np.all(usable[n - k :]):
            continue
        ones = np.ones(k)
        observed = np.convolve(filled["c"], ones, mode="valid")
        mean = np.convolve(filled["m"], ones, mode="valid")
        variance = np.convolve(filled["v"], ones, mode="valid") + shared * mean**2
        complete = np.convolve(usable.astype(float), ones, mode="valid") == k
        threshold = settings.count_threshold(k)
        change = math.log1p(settings.min_change(k))
        ratio = math.log((observed[-1] + 0.5) / (mean[-1] + 0.5))
        live = [d for d in directions if d * ratio >= change]
        if not live:
            continue
        score = float(count_score(observed[-1:], mean[-1:], variance[-1:])[0])
        live = [d for d in live if d * score >= threshold]
        if not live:
            continue
        # Scores the same windows had in the history: when they ranged wider than a
        # standard normal, the model is missing something and the score is shrunk.
        history = np.flatnonzero(complete[: max(0, cut - k + 1)])
        scale = 1.0
        if len(history) > 24:
            past = count_score(observed[history], mean[history], variance[history])
            scale = max(1.0, _mad_sigma(past))
        for direction in live:
            calibrated = direction * score / scale
            if calibrated < threshold:
                continue
            best = found.get(direction)
            if best is None or calibrated / threshold > best.score / best.threshold:
                per_value = exposure[n - k :]
                seen = float(np.mean(counts[n - k :] / per_value))
                baseline = float(np.mean(expected[n - k :] / per_value))
                found[direction] = Shift(
                    k,
                    calibrated,
                    threshold,
                    observed[-1] / mean[-1] - 1,
                    float(rate[-1]),
                    seen,
                    baseline,
                )
    return found
