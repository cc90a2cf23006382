"""The key ring: signing keys generated on first start (or given in settings), persisted encrypted,
served as JWKS; the newest active key signs, every active key verifies until retired."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.base import Outbox
from services.auth.keys.errors import SigningKeyNotFound, SigningKeyStillSigning
from services.auth.keys.models import SigningKey
from shared.auth import JWKSCache
from shared.crypto import SecretBox
from shared.db import utcnow
from shared.events.auth_keys import AUTH_KEYS_STREAM, SIGNING_KEY_ADDED, SIGNING_KEY_RETIRED, SigningKeyChanged
from shared.events.direct import DIRECT_PUBLISH_GRACE_SECONDS, CommittedEvent, publish_now
from shared.events.outbox import emit
from shared.logging import get_logger

log = get_logger("keys")
_ADVISORY_LOCK = 0x41_75_74_68  # "Auth": one replica generates the first key
JWKS_FRESH_SECONDS = 2.0  # the JWKS endpoint re-reads the ring from the DB at most this often


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    private_pem: str
    public_jwk: dict[str, Any]
    created_at: datetime


def generate_private_pem(alg: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_jwk_of(private_pem: str, alg: str, kid: str | None = None) -> dict[str, Any]:
    """Public JWK of a private PEM; the kid defaults to a hash of the public key."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if alg == "ES256" and not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("AUTH_SIGNING_KEY_PEM is not an EC key but AUTH_SIGNING_ALG is ES256")
    if alg == "RS256" and not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("AUTH_SIGNING_KEY_PEM is not an RSA key but AUTH_SIGNING_ALG is RS256")
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = kid or base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
    public = jwk.construct(pem.decode(), algorithm=alg).to_dict()
    public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}
    return public | {"kid": kid, "use": "sig", "alg": alg}


class KeyRing:
    """Signing keys of this process, reloaded from the DB so replicas follow a rotation."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        box: SecretBox,
        *,
        alg: str = "ES256",
        configured_pem: str = "",
        reload_every: float = 60.0,
        redis=None,
        stream_maxlen: int = 100_000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis  # announces rotations and retirements on auth.keys.v1
        self.stream_maxlen = stream_maxlen
        self.box = box
        self.alg = alg
        self.configured: LoadedKey | None = None
        if configured_pem:
            public = public_jwk_of(configured_pem, alg)
            self.configured = LoadedKey(public["kid"], alg, configured_pem, public, datetime.min)
        self.reload_every = reload_every
        self.keys: dict[str, LoadedKey] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the keys; generate the first one when there is none and no key is configured."""
        await self.reload()
        if self.configured is None and not self.keys:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
                exists = await session.scalar(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).limit(1))
                if exists is None:
                    self._add_new(session)
            await self.reload()

    def _add_new(self, session: AsyncSession) -> str:
        pem = generate_private_pem(self.alg)
        kid = f"{time.strftime('%Y%m%d')}-{uuid.uuid4().hex[:8]}"
        public = public_jwk_of(pem, self.alg, kid)
        session.add(SigningKey(kid=kid, alg=self.alg, private_key_encrypted=self.box.encrypt(pem), public_jwk=public))
        log.info("signing_key_created", kid=kid, alg=self.alg)
        return kid

    async def reload(self) -> None:
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at)
                )
            ).all()
        keys: dict[str, LoadedKey] = {}
        for row in rows:
            try:
                pem = self.box.decrypt(row.private_key_encrypted)
            except ValueError:
                log.error("signing_key_undecryptable", kid=row.kid)
                continue
            keys[row.kid] = LoadedKey(row.kid, row.alg, pem, row.public_jwk, row.created_at)
        if self.configured is not None:
            keys[self.configured.kid] = self.configured
        self.keys = keys
        self._loaded_at = time.monotonic()

    async def maybe_reload(self, min_interval: float = 5.0) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at >= min_interval:
                await self.reload()

    @property
    def signer(self) -> LoadedKey:
        if self.configured is not None:
            return self.configured
        if not self.keys:
            raise RuntimeError("no signing key loaded")
        return max(self.keys.values(), key=lambda k: k.created_at)

    async def sign(self, claims: dict[str, Any]) -> str:
        if time.monotonic() - self._loaded_at > self.reload_every:
            await self.maybe_reload()
        key = self.signer
        return jwt.encode(claims, key.private_pem, algorithm=key.alg, headers={"kid": key.kid})

    async def jwks(self) -> dict[str, Any]:
        """Fresh within a few seconds: it is what every verifier's periodic refresh converges to."""
        await self.maybe_reload(JWKS_FRESH_SECONDS)
        return {"keys": [k.public_jwk for k in self.keys.values()]}

    def public(self, kid: str) -> dict[str, Any] | None:
        key = self.keys.get(kid)
        return key.public_jwk if key else None

    async def rotate(self) -> str:
        """A new key signs from now on; the old ones keep verifying until retired."""
        async with self.sessionmaker() as session, session.begin():
            kid = self._add_new(session)
            event = await self._announce(session, SIGNING_KEY_ADDED, kid)
        await self.reload()
        await publish_now(self.redis, self.sessionmaker, Outbox, [event], maxlen=self.stream_maxlen)
        return kid

    async def retire(self, kid: str) -> None:
        if kid not in self.keys or (self.configured is not None and kid == self.configured.kid):
            raise SigningKeyNotFound(f"no active signing key {kid!r}")
        if kid == self.signer.kid:
            raise SigningKeyStillSigning("rotate first: this key is the one signing new tokens")
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(SigningKey).where(SigningKey.kid == kid).values(retired_at=utcnow()))
            event = await self._announce(session, SIGNING_KEY_RETIRED, kid)
        log.info("signing_key_retired", kid=kid)
        await self.reload()
        await publish_now(self.redis, self.sessionmaker, Outbox, [event], maxlen=self.stream_maxlen)

    async def _announce(self, session: AsyncSession, type_: str, kid: str) -> CommittedEvent:
        """The auth.keys.v1 event, in the key's own transaction; published right after commit (relay as backup)."""
        envelope = await emit(
            session,
            Outbox,
            stream=AUTH_KEYS_STREAM,
            type=type_,
            idempotency_key=f"{type_}:{kid}",
            payload=SigningKeyChanged(kid=kid).model_dump(),
            defer_seconds=DIRECT_PUBLISH_GRACE_SECONDS,
        )
        return CommittedEvent(AUTH_KEYS_STREAM, envelope)


class KeyRingJWKS(JWKSCache):
    """Auth's own verifier keys: its key ring (no HTTP call to itself) plus any static JWKS_JSON."""

    def __init__(self, keyring: KeyRing, static_json: str = "") -> None:
        super().__init__(static_json=static_json)
        self.keyring = keyring

    async def get(self, kid: str) -> dict[str, Any] | None:
        if kid in self.retired:
            return None
        key = self.keyring.public(kid) or self.keys.get(kid)
        if key is None:
            await self.keyring.maybe_reload()
            key = self.keyring.public(kid)
        return key

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the ring from the DB (another replica rotated or retired a key); drop tokens of keys now gone."""
        before = set(self.keyring.keys)
        await self.keyring.maybe_reload(min_interval=0.0 if force else 1.0)
        gone = before - set(self.keyring.keys)
        if gone and self.on_removed is not None:
            self.on_removed(gone)
