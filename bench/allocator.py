"""Time of the pool allocator for 10,000 campaigns, per strategy.

Each strategy allocates a seeded pool of 10,000 campaigns (curves with
posterior uncertainty, a max step, share limits and Act caps) with the same
function the optimizer runs (services/optimizer/pools/allocator.py). The figure is
the median over ``--runs`` runs; ``marginal_eval_ms_10000``, one vectorised
evaluation of every campaign's marginal return, is measured in the same run as
a baseline for the machine's speed, and ``*_ratio`` is each strategy's time in
those evaluations (the bisection takes ~10-20 vectorised steps before the exact
solve; opportunity_weighted adds one posterior draw). ``allocator_ms_10000`` is
the slowest strategy's median. Target: under 50 ms.

Usage: python bench/allocator.py [--campaigns N] [--runs R] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the repository's root comes first instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

from bench.report import milliseconds, print_figures
from services.optimizer.pools.allocator import STRATEGIES, PoolLimits, allocate
from shared.curves import CurveSet


def _pool(n: int, seed: int) -> tuple[CurveSet, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(500, 5000, n)
    top = scale * rng.uniform(1.0, 8.0, n)
    sd = rng.uniform(0.05, 0.6, n)
    corr = rng.uniform(0.0, 0.9, n)
    chol = np.zeros((n, 2, 2))
    chol[:, 0, 0] = sd
    chol[:, 1, 0] = sd * corr
    chol[:, 1, 1] = sd * np.sqrt(1 - corr**2)
    current = rng.uniform(300, 4000, n)
    caps = current * rng.uniform(1.1, 2.0, n)
    return CurveSet(top, scale, chol), current, caps


def _time(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm caches and lazy imports
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def figures(campaigns: int, runs: int) -> dict[str, object]:
    curves, current, caps = _pool(campaigns, seed=0)
    total = float(current.sum())
    limits = PoolLimits(min_share=0.0, max_share=0.01, max_step=0.2)
    rng = np.random.default_rng(1)
    out: dict[str, object] = {"campaigns": campaigns}
    baseline = milliseconds(_time(lambda: curves.marginal(current), runs))["median"]
    out[f"marginal_eval_ms_{campaigns}"] = baseline
    for strategy in STRATEGIES:
        ms = milliseconds(
            _time(
                lambda s=strategy: allocate(  # type: ignore[misc]
                    total, current, curves, strategy=s, limits=limits, caps=caps, rng=rng
                ),
                runs,
            )
        )
        out[f"allocator_ms_{campaigns}_{strategy}"] = ms["median"]
        out[f"allocator_ms_{campaigns}_{strategy}_p90"] = ms["p90"]
        out[f"allocator_ms_{campaigns}_{strategy}_ratio"] = (
            round(ms["median"] / baseline, 1) if baseline > 0 else None
        )
    out[f"allocator_ms_{campaigns}"] = max(
        float(out[f"allocator_ms_{campaigns}_{s}"])  # type: ignore[arg-type]
        for s in STRATEGIES
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print_figures(figures(args.campaigns, args.runs), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
