"""bench/http.py and its FastAPI peer, without servers: the script's options, the peer's
routes against the contracts, and the load generator's scripts and figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.routing import APIRoute

from bench import http as bench_http
from bench.peers import fastapi_app
from shared.contracts import ROUTES, alerts, decision, optimizer

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_explains_its_options() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "http.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--duration", "--rounds", "--connections", "--quick", "--json"):
        assert option in done.stdout


def test_the_peer_serves_the_contracts_list_get_and_create_routes() -> None:
    served = {
        (method, route.path)
        for route in fastapi_app.app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    expected = {
        (route.method, route.path)
        for route in ROUTES
        if route.resource in (decision.DECISIONS, alerts.ALERTS, optimizer.RECOMMENDATIONS)
        and route.kind in ("list", "get")
    } | {(decision.CREATE_DECISION.method, decision.CREATE_DECISION.path)}
    assert served == expected
    assert {(r.method, r.path) for r in fastapi_app.ROUTES} == expected
    # Each answers with the contract's own response model.
    models = {
        route.path: route.response_model
        for route in fastapi_app.app.routes
        if isinstance(route, APIRoute) and "GET" in route.methods
    }
    for route in fastapi_app.ROUTES:
        if route.method == "GET":
            assert models[route.path] is route.response


def test_quick_mode_is_small_and_short() -> None:
    args = bench_http.parse_args(["--quick"])
    assert (args.rounds, args.duration) == (1, 1.0)
    assert bench_http.parse_args([]).workers == 4  # one per service process


def test_every_case_has_paths_and_a_lua_script_that_reports_its_figures() -> None:
    ids = {
        c: [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]
        for c in bench_http.COLLECTIONS
    }
    cursors = dict.fromkeys(bench_http.COLLECTIONS, "abc")
    for case in bench_http.CASES:
        paths = bench_http.paths_of(case, ids, cursors)
        assert paths and all(p.startswith("/api/ai/") for p in paths)
        script = bench_http.lua_script(case, paths, "adp_key")
        assert "Bearer adp_key" in script and "WRK {" in script
        assert ('wrk.method = "POST"' in script) == (case == "post")
    byid = bench_http.paths_of("byid", ids, cursors)
    assert [p.split("/")[3] for p in byid[:3]] == list(bench_http.COLLECTIONS)


def test_figures_are_medians_and_ratios_of_back_to_back_runs() -> None:
    args = bench_http.parse_args(["--rounds", "3"])
    rounds = {"gateway": (100.0, 300.0, 200.0), "peer": (200.0, 600.0, 50.0)}
    runs = {
        (side, case): [bench_http.Run(rps, 1.0 + rps / 1000, 9.0, 0) for rps in values]
        for side, values in rounds.items()
        for case in bench_http.CASES
    }
    out = bench_http.figures(args, runs, bench_http.QUICK)
    assert out["gateway_list_rps"] == 200.0 and out["peer_list_rps"] == 200.0
    # Round by round the gateway does half the peer's work (the third peer run was hit
    # by something else): the ratio says so, where one of medians would say 1.
    for case in ("list", "byid", "post"):
        assert out[f"gateway_vs_peer_{case}_rps_ratio"] == 0.5
    assert out["gateway_list_p50_ms"] == 1.2 and out["peer_post_p99_ms"] == 9.0
    assert out["gateway_errors"] == 0 and out["peer_errors"] == 0
