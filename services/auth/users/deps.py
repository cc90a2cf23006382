"""The user service of a request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.users.service import UserService
from shared.db import SessionDep


def get_user_service(request: Request, session: SessionDep) -> UserService:
    state = request.app.state
    return UserService(
        session, state.settings, state.redis, getattr(state, "login_limiter", None), getattr(state, "box", None)
    )


UserServiceDep = Annotated[UserService, Depends(get_user_service)]
