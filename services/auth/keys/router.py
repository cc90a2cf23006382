"""JWKS, and signing-key rotation for superusers."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel

from services.auth.deps import KeyRingDep
from shared.auth import SuperuserDep

router = APIRouter(tags=["keys"])


class SigningKeyRead(BaseModel):
    kid: str
    alg: str
    created_at: datetime | None
    signing: bool


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(keyring: KeyRingDep, response: Response) -> dict:
    response.headers["Cache-Control"] = "public, max-age=60"
    return await keyring.jwks()


@router.get("/api/v1/admin/signing-keys")
async def list_signing_keys(_: SuperuserDep, keyring: KeyRingDep) -> list[SigningKeyRead]:
    signer = keyring.signer.kid
    return [
        SigningKeyRead(
            kid=k.kid, alg=k.alg, created_at=k.created_at if k.created_at.year > 1 else None, signing=k.kid == signer
        )
        for k in keyring.keys.values()
    ]


@router.post("/api/v1/admin/signing-keys/rotate", status_code=201)
async def rotate_signing_key(_: SuperuserDep, keyring: KeyRingDep) -> dict:
    """A new key signs from now on; old keys keep verifying until retired."""
    return {"kid": await keyring.rotate()}


@router.delete(
    "/api/v1/admin/signing-keys/{kid}",
    status_code=204,
    responses={409: {"description": "the key still signs new tokens: rotate first"}},
)
async def retire_signing_key(kid: str, _: SuperuserDep, keyring: KeyRingDep) -> Response:
    await keyring.retire(kid)
    return Response(status_code=204)
