"""Secrets at rest: Fernet (AES-128-CBC + HMAC), key rotation via MultiFernet; `python -m shared.crypto` makes a key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Encrypts tenant/channel secrets. The first key encrypts; all keys decrypt (rotation)."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("SECRETS_KEY is empty; generate one with `python -m shared.crypto`")
        self._fernet = MultiFernet([Fernet(_normalise(k)) for k in parts])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with the configured SECRETS_KEY") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first (newest) key."""
        return self._fernet.rotate(token.encode()).decode()


def _normalise(key: str) -> bytes:
    """Accept a Fernet key, or derive one from any passphrase (dev convenience)."""
    raw = key.encode()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (ValueError, TypeError):
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def generate_key() -> str:
    return Fernet.generate_key().decode()


def new_secrets_key() -> str:
    """A fresh SECRETS_KEY; several comma-separated keys rotate (the first one encrypts)."""
    return Fernet.generate_key().decode()


if __name__ == "__main__":
    print(new_secrets_key())
