"""Where tests find PostgreSQL and RabbitMQ: configured URLs, throwaway containers, or local.

Each test session, and each parallel worker of one (pytest-xdist), gets its own database
and its own exchange (queue names derive from it), so two runs on one machine never collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from adpilot.registry import migration_folders
from shared.bus import Bus
from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import connect, migrate_all

Source = Literal["configured", "docker", "local"]

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def choose_source(
    variable: str, env: Mapping[str, str], docker_reachable: Callable[[], bool]
) -> Source:
    """A configured URL wins; else a container if an engine answers; else the local server."""
    if env.get(variable):
        return "configured"
    if docker_reachable():
        return "docker"
    return "local"


def docker_reachable() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# Ports for the servers tests start come from below the kernel's ephemeral range, one
# slice per pytest worker. A port the kernel hands out for bind(0) can be taken, before the
# service that was given it binds, by any outgoing connection (each test opens hundreds to
# PostgreSQL and RabbitMQ) or by another worker asking the kernel for a port of its own.
# Another test run on the same machine has workers of the same names: a lock file per port
# keeps a port given out by one run from being given out by the other while it lives.
_PORTS_FROM = 10_000
_WORKER_SLICE = 2_500
_PORT_LOCKS = Path(tempfile.gettempdir()) / "adpilot-test-ports"
_claimed: dict[int, int] = {}  # port -> the open lock file that keeps it this process's


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def _port_candidates() -> Iterator[int]:
    floor = _ephemeral_floor()
    slices = max(1, (floor - _PORTS_FROM) // _WORKER_SLICE)
    start = _PORTS_FROM + (_worker_index() % slices) * _WORKER_SLICE
    while True:  # round and round: a port given out long ago is free again by now
        yield from range(start, min(start + _WORKER_SLICE, floor))


_candidates = _port_candidates()


def _claim(port: int) -> bool:
    """Whether ``port`` is this process's to give out: claimed before, or claimed now."""
    if port in _claimed:
        return True
    _PORT_LOCKS.mkdir(exist_ok=True)
    fd = os.open(_PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False  # another test process has it
    _claimed[port] = fd  # held until this process ends
    return True


def free_port() -> int:
    """A port nothing listens on now, and that no other test worker, test run or outgoing
    connection will be given meanwhile."""
    for _ in range(_WORKER_SLICE * 4):
        port = next(_candidates)
        if not _claim(port):
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # something listens there (still, or of the machine's own)
            return port
    raise RuntimeError("no free port in this worker's slice")


@dataclass(frozen=True)
class Servers:
    database_server_url: str  # any database on the server; the run's own is created from it
    amqp_url: str


def _wait_for_port(host: str, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{host}:{port} did not open in {timeout}s")


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    env = os.environ
    engine = functools.cache(docker_reachable)
    db_source = choose_source("ADPILOT_DATABASE_URL", env, engine)
    amqp_source = choose_source("ADPILOT_AMQP_URL", env, engine)
    containers = []
    try:
        if db_source == "docker" or amqp_source == "docker":
            import docker

            client = docker.from_env()
        if db_source == "docker":
            pg = client.containers.run(
                "postgres:16-alpine",
                detach=True,
                remove=True,
                environment={"POSTGRES_HOST_AUTH_METHOD": "trust"},
                ports={"5432/tcp": None},
            )
            containers.append(pg)
            pg.reload()
            port = int(pg.ports["5432/tcp"][0]["HostPort"])
            _wait_for_port("127.0.0.1", port)
            time.sleep(2)  # the entrypoint restarts the server once after init
            db_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        else:
            db_url = env.get("ADPILOT_DATABASE_URL") or LOCAL_DATABASE_URL
        if amqp_source == "docker":
            mq = client.containers.run(
                "rabbitmq:3.13-alpine", detach=True, remove=True, ports={"5672/tcp": None}
            )
            containers.append(mq)
            mq.reload()
            port = int(mq.ports["5672/tcp"][0]["HostPort"])
            _wait_for_port("127.0.0.1", port)
            time.sleep(5)  # the port opens before the broker accepts logins
            amqp_url = f"amqp://guest:guest@127.0.0.1:{port}/"
        else:
            amqp_url = env.get("ADPILOT_AMQP_URL") or LOCAL_AMQP_URL
        yield Servers(db_url, amqp_url)
    finally:
        for container in containers:
            with contextlib.suppress(Exception):
                container.stop(timeout=5)


def worker() -> str:
    """This process's name among parallel test workers (``gw0``, ``gw1``, ...; pytest-xdist
    sets it), or ``main`` in a run without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def run_id() -> str:
    """A fresh name for what a test process creates on the shared servers: random hex
    first, then the worker, so parallel workers and concurrent runs never share a database,
    an exchange or a queue, and a leftover names the worker that made it."""
    return f"{uuid.uuid4().hex[:12]}.{worker()}"


def private_settings(database_server: str, amqp_url: str, name: str, **overrides: Any) -> Settings:
    """Settings for a platform of its own on shared servers: database ``adpilot_<name>``,
    exchange ``adpilot.<name>``, free ports and a fresh internal secret, so it collides with
    nothing else running (another test session, a benchmark, the platform itself)."""
    return Settings.model_validate(
        {
            "database_url": with_database(database_server, f"adpilot_{name.replace('.', '_')}"),
            "amqp_url": amqp_url,
            "exchange": f"adpilot.{name}",
            **{f"{service}_port": free_port() for service in SERVICES},
            "sandbox_port": free_port(),
            "internal_secret": secrets.token_hex(32),
            **overrides,
        }
    )


# Advisory lock key under which test processes migrate their databases one at a time.
MIGRATION_LOCK = 0x61647074


def database_of(settings: Settings) -> str:
    return settings.database_url.rsplit("/", 1)[1]


def apart(settings: Settings, suffix: str) -> Settings:
    """``settings`` on a database, exchange and ports of their own (``suffix`` appended)."""
    return settings.model_copy(
        update={
            "database_url": with_database(
                settings.database_url, f"{database_of(settings)}_{suffix}"
            ),
            "exchange": f"{settings.exchange}.{suffix}",
            **{f"{service}_port": free_port() for service in SERVICES},
            "sandbox_port": free_port(),
        }
    )


@contextlib.asynccontextmanager
async def provisioned(settings: Settings) -> AsyncIterator[Settings]:
    """``settings``' database, migrated, for as long as the block runs; afterwards the
    database is dropped and the exchange's queues deleted.

    Migrations also set up the services' login roles, which belong to the whole server:
    two processes doing so at once (parallel workers starting together) fail with "tuple
    concurrently updated", so they take turns, under a lock held in the server's
    ``postgres`` database that every worker and run shares."""
    admin = await connect(with_database(settings.database_url, "postgres"))
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await migrate_all(settings.database_url, migration_folders())
    finally:
        await admin.close()  # and with it the lock
    async with discarded(settings):
        yield settings


@contextlib.asynccontextmanager
async def discarded(settings: Settings) -> AsyncIterator[Settings]:
    """``settings`` for as long as the block runs; afterwards its database is dropped and
    its exchange's queues deleted, whatever created them (a fixture, `adpilot up`)."""
    try:
        yield settings
    finally:
        bus = Bus(settings.amqp_url, settings.exchange)
        try:
            await bus.connect()
            await bus.delete_topology([*SERVICES, "probe"])
        finally:
            await bus.close()
        admin = await connect(with_database(settings.database_url, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database_of(settings)}" WITH (FORCE)')
        finally:
            await admin.close()
