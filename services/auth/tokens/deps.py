"""The token service of a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.tokens.service import TokenService
from shared.db import SessionDep


def get_token_service(request: Request, session: SessionDep) -> TokenService:
    state = request.app.state
    return TokenService(
        session, state.settings, state.keyring, getattr(state, "login_limiter", None), getattr(state, "redis", None)
    )


TokenServiceDep = Annotated[TokenService, Depends(get_token_service)]
