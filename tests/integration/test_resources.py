"""The declarative writes of ``shared.resources`` on a real table: update, delete and
status changes, and the domain errors they raise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from shared.config import Settings
from shared.contracts.spec import InvalidTransition, Lifecycle
from shared.errors import NotFound
from shared.resources import Resource, change_status, delete, fetch_one, insert, update
from shared.schemas import ResponseModel
from shared.web import api_error


class Thing(ResponseModel):
    id: uuid.UUID
    name: str
    note: str | None
    status: str
    decided_at: datetime | None
    created_at: datetime
    updated_at: datetime


THINGS = Resource("thing", "things", Thing, updatable=("name", "note"))
LIFECYCLE = Lifecycle(
    noun="a thing",
    transitions={"approve": (frozenset({"pending"}), "approved")},
    events={},
    stamps={"approved": "decided_at"},
)
TENANT = uuid.uuid4()


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction that is rolled back, with a temporary table."""
    conn = await asyncpg.connect(settings.database_url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute(
        """CREATE TEMP TABLE things (
               id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL,
               name text NOT NULL, note text, status text NOT NULL DEFAULT 'pending',
               decided_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(),
               updated_at timestamptz NOT NULL DEFAULT now())"""
    )
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


async def test_update_sets_the_changes_and_answers_the_row(conn: asyncpg.Connection) -> None:
    made = await insert(conn, THINGS, TENANT, {"name": "a", "note": "n"})
    changed = await update(conn, THINGS, TENANT, made["id"], {"name": "b"})
    assert (changed["name"], changed["note"]) == ("b", "n")
    assert changed["updated_at"] > made["updated_at"]
    assert await update(conn, THINGS, TENANT, made["id"], {}) == changed
    with pytest.raises(ValueError, match="status"):
        await update(conn, THINGS, TENANT, made["id"], {"status": "approved"})
    with pytest.raises(NotFound):
        await update(conn, THINGS, TENANT, uuid.uuid4(), {"name": "c"})
    # Another tenant's row is not found either.
    with pytest.raises(NotFound):
        await update(conn, THINGS, uuid.uuid4(), made["id"], {"name": "c"})


async def test_delete_answers_the_row_as_it_was(conn: asyncpg.Connection) -> None:
    made = await insert(conn, THINGS, TENANT, {"name": "a"})
    assert await delete(conn, THINGS, TENANT, made["id"]) == made
    with pytest.raises(NotFound) as gone:
        await delete(conn, THINGS, TENANT, made["id"])
    error = api_error(gone.value)
    assert (error.status, error.code, error.message) == (
        404,
        "not_found",
        f"thing {made['id']} not found",
    )


async def test_a_status_change_stamps_the_status_and_refuses_a_second_time(
    conn: asyncpg.Connection,
) -> None:
    made = await insert(conn, THINGS, TENANT, {"name": "a"})
    moved = await change_status(
        conn, THINGS, TENANT, made["id"], LIFECYCLE, "approve", also={"note": "ok"}
    )
    assert moved.before["status"] == "pending"
    assert (moved.after["status"], moved.after["note"]) == ("approved", "ok")
    assert moved.after["decided_at"] is not None
    assert await fetch_one(conn, THINGS, TENANT, made["id"]) == moved.after
    with pytest.raises(InvalidTransition) as refused:
        await change_status(conn, THINGS, TENANT, made["id"], LIFECYCLE, "approve")
    error = api_error(refused.value)
    assert (error.status, error.code, error.message, error.details) == (
        409,
        "invalid_transition",
        "cannot approve a thing that is approved",
        {"status": "approved", "action": "approve"},
    )
    with pytest.raises(NotFound):
        await change_status(conn, THINGS, TENANT, uuid.uuid4(), LIFECYCLE, "approve")
