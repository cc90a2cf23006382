"""Dependencies of the channels service: the secret box and the public base URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.crypto import SecretBox


def get_box(request: Request) -> SecretBox:
    return request.app.state.box


def public_base_url(request: Request) -> str:
    """The URL the outside world uses to reach us: configured, else what the proxy in front says."""
    configured = request.app.state.settings.public_base_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host.split(',')[0].strip()}"


BoxDep = Annotated[SecretBox, Depends(get_box)]
BaseUrlDep = Annotated[str, Depends(public_base_url)]
