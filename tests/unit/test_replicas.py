"""Replicas: how many of each service, where each listens, and how the gateway finds them;
`adpilot up --replicas` refuses what it cannot run, in words."""

from __future__ import annotations

import pytest

from adpilot.cli import build_parser, colliding_ports
from shared.config import SERVICE_NAMES, Settings
from shared.contracts import SERVICES
from shared.replicas import (
    MAX_REPLICAS,
    BadReplicas,
    format_replicas,
    parse_replicas,
    replica_names,
    replica_ports,
)


def test_counts_are_read_and_written_back_alike() -> None:
    counts = parse_replicas(" optimizer=3, alerts = 2,,gateway=1", SERVICES)
    assert counts == {"optimizer": 3, "alerts": 2, "gateway": 1}
    assert parse_replicas(format_replicas(counts), SERVICES) == counts
    assert parse_replicas("", SERVICES) == {}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("billing=2", "unknown service 'billing': one of gateway, decision, alerts, optimizer"),
        ("optimizer=0", "optimizer=0: every service runs at least 1 replica"),
        ("optimizer=-1", "at least 1 replica"),
        ("optimizer=two", "optimizer=two: the count must be a whole number"),
        ("optimizer=2.5", "the count must be a whole number"),
        ("optimizer", "'optimizer' is not SERVICE=COUNT"),
        ("optimizer=", "is not SERVICE=COUNT"),
        ("=3", "is not SERVICE=COUNT"),
        ("optimizer=2,optimizer=3", "optimizer is given twice"),
        (f"alerts={MAX_REPLICAS + 1}", f"at most {MAX_REPLICAS} replicas"),
    ],
)
def test_a_bad_count_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(BadReplicas) as caught:
        parse_replicas(text, SERVICES)
    assert says in str(caught.value)


def test_the_settings_know_every_service() -> None:
    assert SERVICE_NAMES == SERVICES


def test_replicas_listen_a_step_apart_and_the_gateway_finds_each() -> None:
    settings = Settings(replicas="optimizer=3,gateway=2", host="10.0.0.5")
    assert settings.replica_counts == {"gateway": 2, "decision": 1, "alerts": 1, "optimizer": 3}
    assert settings.replica_ports("optimizer") == [8083, 8183, 8283]
    assert settings.urls_of("optimizer") == [
        "http://10.0.0.5:8083",
        "http://10.0.0.5:8183",
        "http://10.0.0.5:8283",
    ]
    assert settings.urls_of("gateway") == ["http://10.0.0.5:8080", "http://10.0.0.5:8180"]
    assert settings.urls_of("decision") == ["http://10.0.0.5:8081"]
    assert replica_ports(9000, 3, 1) == [9000, 9001, 9002]
    assert replica_names("alerts", 1) == ["alerts"]
    assert replica_names("alerts", 2) == ["alerts-1", "alerts-2"]


def test_listed_addresses_win_and_one_service_url_stays_as_it_was() -> None:
    settings = Settings(
        replicas="decision=2",
        decision_urls="http://a:1/, http://b:2",
        alerts_url="http://alerts.internal:9000",
    )
    assert settings.urls_of("decision") == ["http://a:1", "http://b:2"]
    assert settings.urls_of("alerts") == ["http://alerts.internal:9000"]


def test_a_bad_count_in_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADPILOT_REPLICAS", "optimizer=0")
    with pytest.raises(ValueError, match="optimizer=0: every service runs at least 1 replica"):
        Settings()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("billing=2", "unknown service 'billing'"),
        ("optimizer=0", "optimizer=0: every service runs at least 1 replica"),
        ("optimizer=x", "optimizer=x: the count must be a whole number"),
        ("", "give SERVICE=COUNT"),
    ],
)
def test_up_refuses_a_bad_replicas_value_with_a_usage_error(
    value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--replicas", value])
    assert exited.value.code == 2
    assert f"argument --replicas: {says}" in capsys.readouterr().err


def test_up_reads_replicas() -> None:
    args = build_parser().parse_args(["up", "--replicas", "optimizer=3,decision=2"])
    assert args.replicas == {"optimizer": 3, "decision": 2}


def test_replica_ports_that_collide_are_named() -> None:
    # A step of 1 puts the second gateway on the decision service's port.
    clashing = Settings(replicas="gateway=2", replica_port_step=1)
    assert colliding_ports(clashing, simulate=False) == ["decision and gateway-2 on 8081"]
    near_sandbox = Settings(replicas="optimizer=2", replica_port_step=7)
    assert colliding_ports(near_sandbox, simulate=True) == ["sandbox and optimizer-2 on 8090"]
    assert colliding_ports(near_sandbox, simulate=False) == []
    assert colliding_ports(Settings(replicas="optimizer=3,gateway=3"), simulate=True) == []
