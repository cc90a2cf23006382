"""Dependencies of the auth service: settings, key ring, secret box, Redis and the caller's IP."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request

from services.auth.config import AuthSettings
from services.auth.keys.service import KeyRing
from shared.crypto import SecretBox


def get_auth_settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def get_keyring(request: Request) -> KeyRing:
    return request.app.state.keyring


def get_box(request: Request) -> SecretBox:
    return request.app.state.box


def get_redis(request: Request):
    return request.app.state.redis


def client_ip(request: Request) -> str:
    """The caller's address; X-Forwarded-For is believed only when it comes from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    trusted = set(request.app.state.settings.trusted_proxies)
    if peer not in trusted:
        return peer
    forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()]
    for hop in reversed(forwarded):
        if hop not in trusted:
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer


SettingsDep = Annotated[AuthSettings, Depends(get_auth_settings)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
RedisDep = Annotated[object, Depends(get_redis)]
ClientIpDep = Annotated[str, Depends(client_ip)]
