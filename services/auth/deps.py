"""Dependencies of the auth service: settings, key ring, secret box, Redis and the caller's IP."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.config import AuthSettings
from services.auth.keys.service import KeyRing
from shared.crypto import SecretBox
from shared.net import TrustedProxies


def get_auth_settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def get_keyring(request: Request) -> KeyRing:
    return request.app.state.keyring


def get_box(request: Request) -> SecretBox:
    return request.app.state.box


def get_redis(request: Request):
    return request.app.state.redis


def client_ip(request: Request) -> str:
    """The caller's address; X-Forwarded-For is believed only from a trusted proxy (IPs or CIDRs)."""
    proxies = getattr(request.app.state, "trusted_proxies", None)
    if proxies is None:
        proxies = request.app.state.trusted_proxies = TrustedProxies(request.app.state.settings.trusted_proxies)
    peer = request.client.host if request.client else "unknown"
    return proxies.client_ip(peer, request.headers.get("x-forwarded-for", ""))


SettingsDep = Annotated[AuthSettings, Depends(get_auth_settings)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
RedisDep = Annotated[object, Depends(get_redis)]
ClientIpDep = Annotated[str, Depends(client_ip)]
