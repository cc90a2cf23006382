"""Dependencies of the channels service: the secret box and the public base URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.crypto import SecretBox


def get_box(request: Request) -> SecretBox:
    return request.app.state.box


def public_base_url(request: Request) -> str:
    """CHANNELS_PUBLIC_BASE_URL, or "" when unset: never the request's Host, which whoever calls us chooses."""
    return request.app.state.settings.public_base_url.rstrip("/")


BoxDep = Annotated[SecretBox, Depends(get_box)]
BaseUrlDep = Annotated[str, Depends(public_base_url)]
