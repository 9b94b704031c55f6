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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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

    @property
    def lag(self) -> int:
        return max(self.windows)

    def threshold(self, k: int) -> float:
        return self.sustained_z + (self.single_z - self.sustained_z) / k

    def min_change(self, k: int) -> float:
        return self.single_change if k == 1 else self.sustained_change


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
    """Median of ``values[t - lag - width : t - lag]`` for every t (NaN when too few)."""
    n = len(values)
    padded = np.concatenate([np.full(width + lag, np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)[:n]
    return _nanmedian_rows(windows, min_count)


def _daily_profile(logs: np.ndarray, hour_of_day: np.ndarray) -> np.ndarray:
    """Per hour of day, the median over the days given (NaN where none)."""
    first = int(hour_of_day[0])
    padded = np.concatenate([np.full(first, np.nan), logs])
    padded = np.concatenate([padded, np.full(-len(padded) % 24, np.nan)])
    return _nanmedian_rows(padded.reshape(-1, 24).T, 1)


def _mad_sigma(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    centre = np.median(values)
    return float(MAD_TO_SIGMA * np.median(np.abs(values - centre)))


def scan(
    values: np.ndarray,
    sampling_sd: np.ndarray,
    hour_of_day: np.ndarray,
    directions: tuple[int, ...],
    settings: ScanSettings,
) -> tuple[Fit, dict[int, Shift]]:
    """Test the newest hour (the last element) of a positive hourly series.

    ``values`` holds one value per consecutive hour, NaN where unknown; ``sampling_sd``
    the noise each hour's value carries from sampling alone (log scale, 0 if none);
    ``hour_of_day`` each hour's hour of day; ``directions`` +1 to look for rises, -1 for
    falls. Returns the fit and, per direction, the strongest window that passed.
    """
    n = len(values)
    lag = settings.lag
    logs = np.log(np.where(values > 0, values, np.nan))
    # The stretch under test never shapes its own baseline.
    cut = max(0, n - lag)
    history = logs[:cut]
    same_hour = hour_of_day[:cut] == hour_of_day[-1]
    days_at_hour = int(np.sum(~np.isnan(history[same_hour])))
    history_hours = int(np.sum(~np.isnan(history)))
    not_ready = Fit(False, history_hours, days_at_hour, math.nan)
    if days_at_hour < settings.min_days or math.isnan(logs[-1]):
        return not_ready, {}

    profile = _daily_profile(history, hour_of_day[:cut])
    deseasonalised = logs - profile[hour_of_day]
    level = _rolling_nanmedian(
        deseasonalised, settings.level_hours, lag, max(2, settings.level_hours // 2)
    )
    residual = deseasonalised - level
    sampling = np.nan_to_num(sampling_sd, nan=0.0)
    calibration = ~np.isnan(residual[:cut])
    if np.sum(calibration) < settings.level_hours:
        return not_ready, {}
    spread = _mad_sigma(residual[:cut])
    typical_sampling = float(np.median(sampling[:cut][calibration] ** 2))
    tau = math.sqrt(max(spread**2 - typical_sampling, settings.tau_floor**2))
    fit = Fit(True, history_hours, days_at_hour, tau)
    newest = residual[-1]
    # Only a move that is still on is reported: the newest hour must itself have moved.
    directions = tuple(d for d in directions if d * newest >= math.log1p(settings.sustained_change))
    if not directions or math.isnan(newest):
        return fit, {}

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
                found[direction] = Shift(
                    k, float(score), threshold, math.expm1(mean_log), expected, observed
                )
    return fit, found
