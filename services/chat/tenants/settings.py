"""Chat's view of a tenant's settings (prompt, model, LLM key, approval, buffer, timezone) from auth.

Fetched and cached by shared/tenant_settings.py; a tenant auth does not know (404) or an auth that cannot be
reached gives the platform defaults, cached for CHAT_TENANT_FALLBACK_CACHE_SECONDS, with status "unknown": the AI
never answers a tenant it cannot tell is active (fail safe; the messages are stored for humans). Without any
auth configured (a standalone chat) the defaults are "active".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.tenant_settings import TenantRecord, TenantSettingsClient

# Names under which a tenant's LLM key may be stored (PUT /api/v1/tenants/{id}/secrets/{name}).
LLM_KEY_SECRETS = ("llm_api_key", "openai_api_key")


@dataclass(frozen=True)
class TenantSettings:
    tenant_id: uuid.UUID
    found: bool = False
    name: str = ""
    status: str = "active"
    system_prompt: str = ""
    default_model: str | None = None
    llm_base_url: str | None = None
    require_approval: bool = False
    split_replies: bool = False
    buffer_enabled: bool = True
    buffer_seconds: float = 10.0
    buffer_max_wait_seconds: float = 60.0
    locale: str = "pt-BR"
    timezone: str = "UTC"
    sectors: tuple[str, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def answerable(self) -> bool:
        """The AI may answer this tenant's customers: known to be active (not inactive, not unknown)."""
        return self.status == "active"

    @property
    def llm_api_key(self) -> str:
        return next((self.secrets[n] for n in LLM_KEY_SECRETS if self.secrets.get(n)), "")

    @classmethod
    def from_api(cls, tenant_id: uuid.UUID, data: dict[str, Any]) -> TenantSettings:
        secrets = data.get("secrets") or {}
        return cls(
            tenant_id=tenant_id,
            found=True,
            name=str(data.get("name") or ""),
            status=str(data.get("status") or "active"),
            system_prompt=str(data.get("system_prompt") or ""),
            default_model=data.get("default_model") or None,
            llm_base_url=data.get("llm_base_url") or None,
            require_approval=bool(data.get("require_approval")),
            split_replies=bool(data.get("split_replies")),
            buffer_enabled=bool(data.get("buffer_enabled", True)),
            buffer_seconds=float(data.get("buffer_seconds") if data.get("buffer_seconds") is not None else 10),
            buffer_max_wait_seconds=float(data.get("buffer_max_wait_seconds") or 60),
            locale=str(data.get("locale") or "pt-BR"),
            timezone=str(data.get("timezone") or "UTC"),
            sectors=tuple(str(s) for s in (data.get("sectors") or ())),
            secrets={str(k): str(v) for k, v in secrets.items() if v} if isinstance(secrets, dict) else {},
        )


def parse_tenant_settings(record: TenantRecord) -> TenantSettings:
    """Auth's answer as chat's settings; an unknown tenant or no answer: the platform defaults, status unknown."""
    if record.found:
        return TenantSettings.from_api(record.tenant_id, record.data)
    return TenantSettings(record.tenant_id, status="active" if record.outcome == "unconfigured" else "unknown")


ChatTenantSettings = TenantSettingsClient[TenantSettings]
