"""The project's wiring: configuration, CLI, compose file and test-server choice."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adpilot.cli import build_parser
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import redact
from tests.infra import choose_source

ROOT = Path(__file__).resolve().parents[2]


def _without_adpilot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget every ADPILOT_* variable the shell running the tests has set (the README
    has people export some), so that a test sees only what it sets itself."""
    for name in [n for n in os.environ if n.upper().startswith("ADPILOT_")]:
        monkeypatch.delenv(name)


def test_defaults_work_on_a_local_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_adpilot_environment(monkeypatch)
    s = Settings(_env_file=None)
    assert s.database_url == "postgresql://postgres@127.0.0.1:5432/adpilot"
    assert s.amqp_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert [s.port_of(n) for n in SERVICES] == [8080, 8081, 8082, 8083]
    assert s.url_of("alerts") == "http://127.0.0.1:8082"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_adpilot_environment(monkeypatch)
    monkeypatch.setenv("ADPILOT_ALERTS_URL", "http://alerts:9000")
    monkeypatch.setenv("ADPILOT_GATEWAY_PORT", "9999")
    s = Settings()
    assert s.url_of("alerts") == "http://alerts:9000"
    assert s.gateway_port == 9999
    # What the environment does not name keeps its default.
    assert s.url_of("decision") == "http://127.0.0.1:8081"


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("amqp://guest@h/") == "amqp://guest@h/"


@pytest.mark.parametrize(
    ("env", "docker", "expected"),
    [
        ({"ADPILOT_DATABASE_URL": "postgresql://x/y"}, True, "configured"),
        ({}, True, "docker"),
        ({}, False, "local"),
        ({"ADPILOT_DATABASE_URL": ""}, False, "local"),
    ],
)
def test_test_servers_are_chosen_by_configuration_then_docker(
    env: dict[str, str], docker: bool, expected: str
) -> None:
    asked = []

    def reachable() -> bool:
        asked.append(True)
        return docker

    assert choose_source("ADPILOT_DATABASE_URL", env, reachable) == expected
    # A configured URL never waits on a Docker engine.
    assert asked == ([] if expected == "configured" else [True])


def _cli_commands(command: list[str]) -> list[str]:
    args = build_parser().parse_args(command[1:])
    return [args.command, *([args.service] if hasattr(args, "service") else [])]


def test_compose_names_only_commands_the_cli_has() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "rabbitmq", *SERVICES} <= set(services)
    served = set()
    for name, svc in services.items():
        command = svc.get("command")
        if not command:
            continue
        assert command[0] == "adpilot", name
        parsed = _cli_commands(command)
        if parsed[0] == "serve":
            served.add(parsed[1])
    assert served == set(SERVICES)
    for name in SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["rabbitmq"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]
    assert "replicas" in services["optimizer"]["deploy"]
    assert "management" in services["rabbitmq"]["image"]


def test_compose_runs_the_sandbox_the_services_are_pointed_at() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    sandbox = services["sandbox"]
    args = build_parser().parse_args(sandbox["command"][1:])
    assert args.port == 8090 and args.host == "0.0.0.0"
    assert args.gateway == "http://gateway:8080"
    assert "8090:8090" in sandbox["ports"]
    assert "8090/healthz" in " ".join(sandbox["healthcheck"]["test"])
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["ADPILOT_SANDBOX_URL"] == "http://sandbox:8090", name
        assert Settings(sandbox_url=env["ADPILOT_SANDBOX_URL"]).url_of("sandbox") == (
            "http://sandbox:8090"
        )


def test_compose_cluster_profile_runs_three_clustered_nodes_behind_one_address() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    nodes = {
        name: svc
        for name, svc in services.items()
        if "cluster" in svc.get("profiles", []) and "rabbitmq:" in svc["image"]
    }
    assert len(nodes) == 3
    assert {svc["hostname"] for svc in nodes.values()} == set(nodes)
    # One cookie for the servers and for rabbitmqctl, and a data volume each.
    cookies = {
        (
            svc["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"],
            svc["environment"]["RABBITMQ_CTL_ERL_ARGS"],
        )
        for svc in nodes.values()
    }
    assert len(cookies) == 1 and all("-setcookie" in arg for arg in cookies.pop())
    data = [v for svc in nodes.values() for v in svc["volumes"] if v.endswith(":/var/lib/rabbitmq")]
    assert len(set(data)) == 3
    # Every node reads the one config, which names all three as the cluster's members.
    conf_mounts = {v for svc in nodes.values() for v in svc["volumes"] if "conf.d" in v}
    [mount] = conf_mounts
    conf = (ROOT / mount.split(":")[0]).read_text()
    assert "classic_config" in conf
    assert {f"rabbit@{name}" for name in nodes} == {
        line.split("=")[1].strip()
        for line in conf.splitlines()
        if line.startswith("cluster_formation.classic_config.nodes.")
    }
    # One address in front, forwarding to every node.
    front = services["rabbitmq-cluster"]
    assert front["profiles"] == ["cluster"]
    assert set(front["depends_on"]) == set(nodes)
    [cfg] = [v for v in front["volumes"] if "haproxy" in v]
    backends = {
        line.split()[2].split(":")[0]
        for line in (ROOT / cfg.split(":")[0]).read_text().splitlines()
        if line.strip().startswith("server ")
    }
    assert backends == set(nodes)
    # The services take the cluster's address when it is given, the single broker otherwise.
    for name in SERVICES:
        url = services[name]["environment"]["ADPILOT_AMQP_URL"]
        assert url.startswith("${ADPILOT_AMQP_URL:-") and "@rabbitmq:5672" in url
    assert "rabbitmq-cluster:5672" in (ROOT / "docker-compose.yml").read_text()


def test_the_command_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "adpilot.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: adpilot" in out.stdout


@pytest.mark.parametrize(
    "sub",
    [
        [],
        ["migrate"],
        ["serve"],
        ["up"],
        ["simulate"],
        ["sandbox"],
        ["keys"],
        ["keys", "create"],
        ["dead-letters"],
        ["bench"],
    ],
)
def test_every_subcommand_has_help(sub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*sub, "--help"])
    assert done.value.code == 0
    assert "usage: adpilot" in capsys.readouterr().out


def _dockerfile_stages() -> list[tuple[str | None, list[str]]]:
    """(stage name, instructions with continuation lines joined) per FROM."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[tuple[str | None, list[str]]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            words = line.split()
            stages.append((words[3] if len(words) > 3 and words[2].upper() == "AS" else None, []))
        stages[-1][1].append(line)
    return stages


def test_the_image_copies_only_what_exists_and_serves_what_it_builds() -> None:
    stages = _dockerfile_stages()
    names = {name for name, _ in stages if name}
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    env: dict[str, str] = {}
    copied_to: set[str] = set()
    for _name, lines in stages:
        for line in lines:
            words = line.split()
            if words[0].upper() == "ENV":
                env.update(pair.split("=", 1) for pair in words[1:] if "=" in pair)
            if words[0].upper() != "COPY":
                continue
            *sources, target = words[1:]
            if sources and sources[0].startswith("--from="):
                assert sources[0].removeprefix("--from=") in names, line
                copied_to.add(target)
                continue
            for source in sources:
                # Sent to the builder (not excluded by .dockerignore) and present in the repo.
                assert (ROOT / source).exists(), f"{source} does not exist: {line}"
                assert source not in ignored, f"{source} is in .dockerignore: {line}"
    # The gateway is pointed at the builds the first stage made.
    assert env["ADPILOT_DASHBOARD_DIR"] in copied_to
    assert env["ADPILOT_DOCS_DIR"] in copied_to
    scripts = json.loads((ROOT / "web" / "package.json").read_text())["scripts"]
    assert "build" in scripts
    assert (ROOT / "clients" / "typescript" / "scripts" / "docs.mjs").exists()
