"""API key format `atd_<8-char prefix>_<secret>` and its keyed hash (HMAC-SHA256; keys are high-entropy)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_KEY = re.compile(r"^atd_([a-z0-9]{8})_[A-Za-z0-9_-]{32,100}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_key() -> tuple[str, str]:
    """(prefix, full key); the prefix is shown in lists so people can tell keys apart."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return prefix, f"atd_{prefix}_{secrets.token_urlsafe(32)}"


def prefix_of(key: str) -> str | None:
    match = _KEY.match(key.strip())
    return match.group(1) if match else None


def hash_key(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.strip().encode(), hashlib.sha256).hexdigest()


def pepper_from(api_key_pepper: str, secrets_key: str) -> bytes:
    """AUTH_API_KEY_PEPPER, else derived from the first SECRETS_KEY entry."""
    if api_key_pepper:
        return api_key_pepper.encode()
    first = secrets_key.split(",")[0].strip()
    return hashlib.sha256(b"atende-api-key-pepper:" + first.encode()).digest()
