"""POST /auth/verify-email (the mailed token), POST /auth/verify-email/resend (signed-in user)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.auth.users.deps import UserServiceDep
from services.auth.verification.schemas import VerifyEmail
from services.auth.verification.service import VerificationService
from shared.auth import CurrentPrincipal
from shared.db import SessionDep

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def get_verification_service(request: Request, session: SessionDep) -> VerificationService:
    state = request.app.state
    return VerificationService(session, state.settings, state.redis, state.box)


VerificationServiceDep = Annotated[VerificationService, Depends(get_verification_service)]


@router.post(
    "/verify-email",
    status_code=204,
    responses={
        400: {"description": "the token is unknown, already used or expired"},
        422: {"description": "an invitation needs a password (or the password is too weak)"},
    },
)
async def verify_email(body: VerifyEmail, verification: VerificationServiceDep) -> Response:
    await verification.verify(body)
    return Response(status_code=204)


@router.post(
    "/verify-email/resend",
    status_code=202,
    response_class=Response,
    responses={403: {"description": "not a signed-in user (an API key or a service)"}},
)
async def resend_verification(
    principal: CurrentPrincipal, users: UserServiceDep, verification: VerificationServiceDep
) -> Response:
    await verification.resend(await users.current(principal))
    return Response(status_code=202)
