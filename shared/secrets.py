"""Secrets at rest: AES-GCM with keys from the environment, each ciphertext stored beside
the id of the key that sealed it so keys can rotate.

``ADPILOT_SECRETS_KEY`` is the current key (base64 of 32 bytes) and
``ADPILOT_SECRETS_KEY_ID`` its id (``k1`` when unset). Keys that sealed older secrets stay
readable through ``ADPILOT_SECRETS_OLD_KEYS``: ``id:base64,id:base64``. ``adpilot keys
rotate-secrets`` seals every stored secret again with the current key, after which the
old keys may go.

A :class:`Sealed` value never shows its plaintext in ``repr`` or ``str``; callers unseal
only at the moment they hand credentials to a platform client.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "ADPILOT_SECRETS_KEY"
KEY_ID_ENV = "ADPILOT_SECRETS_KEY_ID"
OLD_KEYS_ENV = "ADPILOT_SECRETS_OLD_KEYS"
DEFAULT_KEY_ID = "k1"
NONCE_BYTES = 12


class SecretsUnavailable(RuntimeError):
    """No key to seal with, or none that opens a stored secret."""


def _key(text: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretsUnavailable(f"{name} is not base64") from exc
    if len(raw) != 32:
        raise SecretsUnavailable(f"{name} must be 32 bytes (base64), got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class Sealed:
    """A ciphertext (nonce first) and the id of the key that sealed it."""

    key_id: str
    blob: bytes

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, {len(self.blob)} bytes)"


class Keyring:
    """The current key, which seals, and every key that may still open a secret."""

    def __init__(self, current_id: str, keys: Mapping[str, bytes]) -> None:
        if current_id not in keys:
            raise SecretsUnavailable(f"no key with id {current_id!r}")
        self.current_id = current_id
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id!r}, ids={sorted(self._keys)})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if env is None else env
        current = env.get(KEY_ENV)
        if not current:
            raise SecretsUnavailable(
                f"{KEY_ENV} is not set: credentials cannot be stored or read "
                "(generate one with: python -c 'import os,base64;"
                "print(base64.b64encode(os.urandom(32)).decode())')"
            )
        current_id = env.get(KEY_ID_ENV) or DEFAULT_KEY_ID
        keys = {current_id: _key(current, KEY_ENV)}
        for item in filter(None, (env.get(OLD_KEYS_ENV) or "").split(",")):
            key_id, sep, text = item.strip().partition(":")
            if not sep or not key_id:
                raise SecretsUnavailable(f"{OLD_KEYS_ENV} entries are id:base64")
            keys.setdefault(key_id, _key(text, f"{OLD_KEYS_ENV}[{key_id}]"))
        return cls(current_id, keys)

    def seal(self, secret: Mapping[str, Any], context: bytes) -> Sealed:
        """``secret`` as JSON, sealed with the current key; ``context`` (e.g. the row's
        tenant and id) is authenticated, so a ciphertext copied to another row fails."""
        nonce = os.urandom(NONCE_BYTES)
        data = AESGCM(self._keys[self.current_id]).encrypt(
            nonce, orjson.dumps(dict(secret)), context
        )
        return Sealed(self.current_id, nonce + data)

    def open(self, sealed: Sealed, context: bytes) -> dict[str, Any]:
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise SecretsUnavailable(
                f"the secret was sealed with key {sealed.key_id!r}, which is not configured "
                f"(add it to {OLD_KEYS_ENV})"
            )
        nonce, data = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            plain = AESGCM(key).decrypt(nonce, data, context)
        except InvalidTag as exc:
            raise SecretsUnavailable(f"key {sealed.key_id!r} does not open this secret") from exc
        value: dict[str, Any] = orjson.loads(plain)
        return value

    def reseal(self, sealed: Sealed, context: bytes) -> Sealed | None:
        """The secret sealed with the current key, or ``None`` when it already is."""
        if sealed.key_id == self.current_id:
            return None
        return self.seal(self.open(sealed, context), context)
