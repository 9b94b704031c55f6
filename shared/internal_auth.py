"""Short-lived tokens by which the gateway vouches for a request's tenant and principal.

Services trust nothing else: a request reaching a service port directly, without a valid
token, is refused. HMAC-SHA256 over a compact JSON claim set, shared secret, 60 s life.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import orjson

HEADER = "X-Adpilot-Internal"
ROLES = ("viewer", "operator", "admin")
Role = Literal["viewer", "operator", "admin", "system"]
RANK = {"viewer": 0, "operator": 1, "admin": 2, "system": 3}


class InvalidToken(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a tenant, a role within it, and a stable subject for audit and limits."""

    tenant_id: UUID
    role: Role
    subject: str
    kind: Literal["api_key", "jwt", "system"] = "api_key"

    def allows(self, needed: str) -> bool:
        return RANK[self.role] >= RANK[needed]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(principal: Principal, secret: bytes, ttl_seconds: int, now: float | None = None) -> str:
    claims = {
        "t": str(principal.tenant_id),
        "r": principal.role,
        "s": principal.subject,
        "k": principal.kind,
        "exp": int((now if now is not None else time.time()) + ttl_seconds),
    }
    body = _b64(orjson.dumps(claims))
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: str, secret: bytes, now: float | None = None) -> Principal:
    try:
        body, mac = token.split(".")
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise InvalidToken("bad signature")
        claims = orjson.loads(_unb64(body))
        if claims["exp"] < (now if now is not None else time.time()):
            raise InvalidToken("expired")
        if claims["r"] not in RANK:
            raise InvalidToken("unknown role")
        return Principal(UUID(claims["t"]), claims["r"], str(claims["s"]), claims["k"])
    except InvalidToken:
        raise
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidToken("malformed token") from exc
