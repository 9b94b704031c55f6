"""Sealing platform credentials: AES-GCM bound to its row, keys named and rotatable, and
nothing of the plaintext in a repr or an error."""

from __future__ import annotations

import base64
import os

import pytest

from shared.secrets import KEY_ENV, KEY_ID_ENV, OLD_KEYS_ENV, Keyring, Sealed, SecretsUnavailable

SECRET = {"access_token": "EAAunit-secret-value"}


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_a_sealed_secret_opens_only_with_its_context_and_shows_no_plaintext() -> None:
    ring = Keyring.from_env({KEY_ENV: _key()})
    sealed = ring.seal(SECRET, b"tenant-a:row-1")
    assert sealed.key_id == "k1"
    assert b"EAAunit" not in sealed.blob and "EAAunit" not in repr(sealed)
    assert ring.open(sealed, b"tenant-a:row-1") == SECRET
    with pytest.raises(SecretsUnavailable, match="does not open"):
        ring.open(sealed, b"tenant-b:row-1")


def test_two_seals_of_one_secret_differ() -> None:
    ring = Keyring.from_env({KEY_ENV: _key()})
    assert ring.seal(SECRET, b"c").blob != ring.seal(SECRET, b"c").blob


def test_a_secret_of_an_unconfigured_key_says_which_key_is_missing() -> None:
    old = Keyring.from_env({KEY_ENV: _key(), KEY_ID_ENV: "2025"}).seal(SECRET, b"c")
    ring = Keyring.from_env({KEY_ENV: _key(), KEY_ID_ENV: "2026"})
    with pytest.raises(SecretsUnavailable, match=r"'2025'.*ADPILOT_SECRETS_OLD_KEYS"):
        ring.open(old, b"c")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ADPILOT_SECRETS_KEY is not set"),
        ({KEY_ENV: "not base64!"}, "not base64"),
        ({KEY_ENV: base64.b64encode(b"short").decode()}, "32 bytes"),
        ({KEY_ENV: base64.b64encode(b"k" * 32).decode(), OLD_KEYS_ENV: "nocolon"}, "id:base64"),
    ],
)
def test_bad_key_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SecretsUnavailable, match=message):
        Keyring.from_env(env)


def test_a_tampered_ciphertext_does_not_open() -> None:
    ring = Keyring.from_env({KEY_ENV: _key()})
    sealed = ring.seal(SECRET, b"c")
    flipped = bytes([sealed.blob[-1] ^ 1])
    with pytest.raises(SecretsUnavailable):
        ring.open(Sealed(sealed.key_id, sealed.blob[:-1] + flipped), b"c")
