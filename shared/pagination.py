"""Opaque keyset cursors: newest first by (created_at, id)."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

import orjson

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class BadCursor(ValueError):
    pass


def encode_cursor(created_at: datetime, id_: UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(id_)])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, id_ = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        ts = datetime.fromisoformat(created_at)
        if ts.tzinfo is None:
            raise ValueError("naive timestamp")
        return ts, UUID(id_)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadCursor("cursor is not one this API issued") from exc


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError("must be an integer") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"must be between 1 and {MAX_LIMIT}")
    return value
