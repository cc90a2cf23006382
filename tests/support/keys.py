"""A signing key for tests: JWKS the services trust (via JWKS_JSON) and tokens minted with it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt


@dataclass
class TestKeys:
    __test__ = False  # not a pytest test class
    kid: str
    private_pem: str
    jwks: dict
    audience: str = "atende"
    issuer: str = "atende-auth"

    @classmethod
    def generate(cls) -> TestKeys:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        pub = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        kid = f"test-{uuid.uuid4().hex[:8]}"
        public = jwk.construct(pub, algorithm="ES256").to_dict()
        public = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public.items()}
        public |= {"kid": kid, "use": "sig", "alg": "ES256"}
        return cls(kid=kid, private_pem=pem, jwks={"keys": [public]})

    @property
    def jwks_json(self) -> str:
        return orjson.dumps(self.jwks).decode()

    def mint(
        self,
        *,
        sub: str | None = None,
        tenant_id: str | uuid.UUID | None = None,
        role: str | None = "admin",
        scopes: list[str] | None = None,
        superuser: bool = False,
        ttl: int = 900,
        **claims,
    ) -> str:
        now = int(time.time())
        payload = {
            "sub": sub or str(uuid.uuid4()),
            "tid": str(tenant_id) if tenant_id else None,
            "role": role,
            "scopes": scopes if scopes is not None else ["read", "write", "admin"],
            "su": superuser,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        } | claims
        return jwt.encode(payload, self.private_pem, algorithm="ES256", headers={"kid": self.kid})
