"""Which OpenAI-compatible endpoint to call and with which key: a base URL and its key always travel together.

The platform's key (CHAT_LLM_API_KEY, TRANSCRIPTION_OPENAI_API_KEY, SEARCH_OPENAI_API_KEY) is only ever sent to the
platform's base URL. A tenant's own base URL gets the tenant's own key or no key at all (local servers such as Ollama
or vLLM need none), never the platform's: whoever runs that server would otherwise read our key off the request.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderEndpoint:
    """A base URL ("" = the provider's public endpoint) and the key for it ("" = send none)."""

    base_url: str
    api_key: str
    owner: str  # "platform" or "tenant": whose base URL this is (errors and logs say so, never the key)

    def __repr__(self) -> str:
        return f"ProviderEndpoint(base_url={self.base_url!r}, owner={self.owner!r}, has_key={bool(self.api_key)})"

    @property
    def tenant_url(self) -> bool:
        return self.owner == "tenant"


def resolve_endpoint(
    *, platform_url: str, platform_key: str, tenant_url: str | None = None, tenant_key: str | None = None
) -> ProviderEndpoint:
    """A tenant URL: with the tenant's key or none. The platform's URL: the tenant's key if it has one (it pays for
    its own calls), else the platform's. The platform's key never goes to a URL the platform did not configure."""
    if tenant_url:
        return ProviderEndpoint(base_url=tenant_url, api_key=tenant_key or "", owner="tenant")
    return ProviderEndpoint(base_url=platform_url, api_key=tenant_key or platform_key, owner="platform")
