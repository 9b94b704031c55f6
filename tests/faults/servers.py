"""Throwaway PostgreSQL clusters and RabbitMQ nodes that a fault test may stop, kill and
restart: their own ports, data directories and node names, never the machine's shared
servers. Everything started here is removed when the test session ends, or when the
Python process exits if a session is cut short."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.infra import free_port

PG_VERSION = os.environ.get("ADPILOT_FAULTS_PG_VERSION", "15")
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")

_cleanups: list[object] = []


def missing_servers() -> str | None:
    """Why servers cannot be started here, or None when they can."""
    if not (
        shutil.which("pg_createcluster") if os.geteuid() == 0 else (PG_BIN / "initdb").exists()
    ):
        return f"PostgreSQL {PG_VERSION} server binaries are not installed"
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return "rabbitmq-server is not installed"
    return None


def _cleanup_everything() -> None:
    for server in reversed(_cleanups):
        with contextlib.suppress(Exception):
            server.remove()  # type: ignore[attr-defined]


atexit.register(_cleanup_everything)


def _run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60.0) -> str:
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited with {done.returncode}: {done.stdout[-1500:]}"
            f"{done.stderr[-1500:]}"
        )
    return done.stdout


def _wait(probe: object, what: str, within: float) -> None:
    deadline = time.monotonic() + within
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {within:g}s")
        time.sleep(0.2)


# --- PostgreSQL ---------------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of its own: ``pg_createcluster`` when run as root (the server
    then runs as ``postgres``), else ``initdb`` in a temporary directory. Trust for
    loopback connections, as user ``postgres``."""

    name: str = field(default_factory=lambda: f"faults{secrets.token_hex(3)}")
    port: int = field(default_factory=free_port)
    _dir: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def _managed(self) -> bool:
        return os.geteuid() == 0

    def create(self) -> PrivatePostgres:
        _cleanups.append(self)
        settings = {
            # Throwaway data: durability against a machine crash is not what is tested.
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        if self._managed:
            _run(
                [
                    "pg_createcluster",
                    PG_VERSION,
                    self.name,
                    "--port",
                    str(self.port),
                    "--start-conf",
                    "manual",
                    *(arg for k, v in settings.items() for arg in ("-o", f"{k}={v}")),
                    "--",
                    "--auth-host=trust",
                    "--auth-local=trust",
                ]
            )
        else:
            self._dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
            _run(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self._dir / "data"),
                    "-U",
                    "postgres",
                    "--auth=trust",
                ]
            )
            with (self._dir / "data" / "postgresql.conf").open("a") as conf:
                for k, v in {
                    **settings,
                    "port": str(self.port),
                    "unix_socket_directories": f"'{self._dir}'",
                }.items():
                    conf.write(f"{k} = {v}\n")
        self.start()
        return self

    def _ctl(self, action: str, *extra: str) -> None:
        if self._managed:
            _run(
                [
                    "pg_ctlcluster",
                    "--skip-systemctl-redirect",
                    PG_VERSION,
                    self.name,
                    action,
                    *extra,
                ]
            )
        else:
            assert self._dir is not None
            _run(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self._dir / "data"),
                    "-l",
                    str(self._dir / "server.log"),
                    "-w",
                    action,
                    *extra,
                ]
            )

    def accepts(self) -> bool:
        done = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return done.returncode == 0

    def start(self) -> None:
        self._ctl("start")
        _wait(self.accepts, f"PostgreSQL on {self.port}", 30)

    def stop(self) -> None:
        """A fast shutdown: sessions are cut, as a failover or a maintenance restart does."""
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        if self._managed:
            subprocess.run(
                ["pg_dropcluster", "--stop", PG_VERSION, self.name],
                capture_output=True,
                check=False,
            )
        elif self._dir is not None:
            with contextlib.suppress(RuntimeError):
                self._ctl("stop", "-m", "immediate")
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        with contextlib.suppress(ValueError):
            _cleanups.remove(self)


# --- RabbitMQ -----------------------------------------------------------------------------


@dataclass
class RabbitNode:
    """One RabbitMQ node of its own: node name, AMQP and distribution ports, data and log
    directories, no plugins. ``home`` holds the Erlang cookie every node of one cluster
    (and ``rabbitmqctl``) reads."""

    home: Path
    label: str
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    @property
    def node(self) -> str:
        return f"{self.label}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def base(self) -> Path:
        return self.home / self.label

    def env(self) -> dict[str, str]:
        plugins = self.home / "enabled_plugins"
        if not plugins.exists():
            plugins.write_text("[].\n")
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
        }

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        return _run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            timeout=timeout,
        )

    def queues_tool(self, *args: str) -> str:
        return _run([str(RABBIT_BIN / "rabbitmq-queues"), "-n", self.node, *args], env=self.env())

    def start(self) -> None:
        (self.base / "log").mkdir(parents=True, exist_ok=True)
        # Memory and disk alarms measured against the whole shared machine would stop
        # publishers for reasons no test is about.
        (self.base / "rabbitmq.conf").write_text(
            "disk_free_limit.absolute = 50MB\nvm_memory_high_watermark.relative = 0.8\n"
            "loopback_users = none\n"
        )
        _run([str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env())
        self.await_startup()

    def await_startup(self, within: float = 90.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                self.ctl("await_startup", "--timeout", "30", timeout=40)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                # Before the node registers, rabbitmqctl cannot reach it at all.
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.node} did not start: {self.log_tail()}") from None
                time.sleep(0.5)

    def log_tail(self) -> str:
        logs = sorted((self.base / "log").glob("*.log"))
        return logs[-1].read_text(errors="replace")[-2000:] if logs else "(no log)"

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.base / "pid").read_text().strip())
        return None

    def stop(self) -> None:
        """The node stops cleanly, as an operator's restart would."""
        self.ctl("stop")

    def kill(self) -> None:
        """The node dies at once, as a machine losing power would."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), f"{self.node} to die", 15)

    def remove(self) -> None:
        pid = self.pid()
        if pid is not None and _alive(pid):
            with contextlib.suppress(Exception):
                self.ctl("stop", timeout=20)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        # A zombie (already dead, not yet reaped by its parent) is not alive.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


class RabbitCluster:
    """``size`` RabbitMQ nodes on this machine, one Erlang cookie, clustered to the first."""

    def __init__(self, size: int = 1, label: str | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="adpilot-rabbit-"))
        cookie = self.home / ".erlang.cookie"
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(20)))
        cookie.chmod(0o400)
        prefix = label or f"faults{secrets.token_hex(3)}"
        self.nodes = [RabbitNode(self.home, f"{prefix}n{i + 1}") for i in range(size)]

    def start(self) -> RabbitCluster:
        _cleanups.append(self)
        first, *others = self.nodes
        first.start()
        for node in others:
            node.start()
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
            node.await_startup()
        return self

    @property
    def first(self) -> RabbitNode:
        return self.nodes[0]

    def running_nodes(self) -> list[str]:
        """Cluster members that are up, as the first node still alive sees them."""
        for node in self.nodes:
            pid = node.pid()
            if pid is not None and _alive(pid):
                status = json.loads(node.ctl("cluster_status", "--formatter", "json"))
                return sorted(status["running_nodes"])
        return []

    def remove(self) -> None:
        for node in self.nodes:
            node.remove()
        shutil.rmtree(self.home, ignore_errors=True)
        with contextlib.suppress(ValueError):
            _cleanups.remove(self)
