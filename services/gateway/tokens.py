"""JWT bearer tokens: HS256 with a shared secret, or RS256 against a JWKS file."""

from __future__ import annotations

from functools import cached_property
from uuid import UUID

import jwt

from shared.config import Settings
from shared.internal_auth import ROLES, Principal

REQUIRED_CLAIMS = ("exp", "aud", "sub")


class BadToken(ValueError):
    """The token cannot be trusted. The message is safe to show: it never echoes the token."""


class JwtVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.jwt_secret is not None or self.settings.jwks_file is not None

    @cached_property
    def _jwks(self) -> jwt.PyJWKSet | None:
        path = self.settings.jwks_file
        return jwt.PyJWKSet.from_json(path.read_text()) if path is not None else None

    def _key_for(self, token: str) -> tuple[object, list[str]]:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm == "HS256" and self.settings.jwt_secret is not None:
            return self.settings.jwt_secret.get_secret_value(), ["HS256"]
        if algorithm == "RS256" and self._jwks is not None:
            kid = header.get("kid")
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key.key, ["RS256"]
            raise BadToken("token signed with an unknown key")
        raise BadToken("token algorithm not accepted")

    def verify(self, token: str) -> Principal:
        if not self.enabled:
            raise BadToken("bearer tokens are not enabled")
        try:
            key, algorithms = self._key_for(token)
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                options={"require": list(REQUIRED_CLAIMS), "verify_nbf": True},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise BadToken("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise BadToken("token not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise BadToken("token is for another audience") from exc
        except jwt.PyJWTError as exc:
            raise BadToken("token is invalid") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise BadToken("token carries no valid role")
        try:
            tenant = UUID(str(claims.get("tenant_id")))
        except ValueError as exc:
            raise BadToken("token carries no valid tenant_id") from exc
        return Principal(tenant, role, f"jwt:{claims['sub']}", "jwt")
