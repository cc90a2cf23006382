"""Visitor tokens: HS256 JWTs that channels alone signs and reads, scoped to one conversation of one web channel.

Why HMAC and not auth's keys: the token is minted by channels with no call to auth (a session per page view), and it
must never pass as an API credential. Auth's tokens are RS256/ES256 checked against the JWKS; these are HS256 with a
key only channels holds, another audience and issuer, so neither verifier accepts the other's tokens
(docs/web-chat.md, "Visitor tokens").
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt

from shared.errors import Unauthorized

AUDIENCE = "atende-widget"
ISSUER = "atende-channels"
_ALGORITHM = "HS256"


class InvalidVisitorToken(Unauthorized):
    code = "invalid_visitor_token"


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    """Whom a verified token speaks for: one visitor of one web channel of one tenant."""

    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    visitor_id: uuid.UUID


class VisitorTokens:
    """`keys`: "kid:secret,kid:secret"; the first signs, every one verifies (rotation). Empty: derived from the
    service secret."""

    def __init__(self, keys: str, service_secret: str, ttl_seconds: int) -> None:
        pairs = [k.split(":", 1) for k in keys.split(",") if k.strip()]
        if not pairs:
            pairs = [["s0", hashlib.sha256(b"atende-widget-token:" + service_secret.encode()).hexdigest()]]
        self._keys = {kid.strip(): secret.strip().encode() for kid, secret in pairs}
        self._signing = pairs[0][0].strip()
        self.ttl_seconds = ttl_seconds

    def issue(self, claims: VisitorClaims) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(claims.visitor_id),
            "cid": str(claims.channel_id),
            "tid": str(claims.tenant_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
        }
        return jwt.encode(body, self._keys[self._signing], algorithm=_ALGORITHM, headers={"kid": self._signing})

    def verify(self, token: str) -> VisitorClaims:
        """The claims of a token we signed that has not expired; 401 otherwise (never says which check failed)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidVisitorToken("visitor token is not valid")
            body = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
            return VisitorClaims(uuid.UUID(body["tid"]), uuid.UUID(body["cid"]), uuid.UUID(body["sub"]))
        except jwt.ExpiredSignatureError:
            raise InvalidVisitorToken("visitor token has expired: start a new session") from None
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            raise InvalidVisitorToken("visitor token is not valid") from None
