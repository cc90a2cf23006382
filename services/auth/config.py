"""Auth and tenants settings: env prefix AUTH_ (the demo seed reads unprefixed DEMO_*)."""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.config import PRODUCTION_REFUSES, ServiceSettings, is_development_secret, load_settings


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    service_name: str = "auth"
    port: int = 8001
    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    exchange_token_ttl_seconds: int = Field(300, ge=30, le=3600)
    service_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    # Sign-up: anyone may register (the first user of an empty install always may); tenant_name creates a tenant.
    signup_enabled: bool = True
    signup_tenant_enabled: bool = True
    argon2_memory_kib: int = Field(19_456, ge=1024, le=1_048_576)
    argon2_time_cost: int = Field(2, ge=1, le=20)
    argon2_parallelism: int = Field(1, ge=1, le=16)
    password_min_length: int = Field(10, ge=8, le=128)
    # Optional fixed signing key (PEM, EC P-256 or RSA); empty = generated on first start and kept in the DB.
    signing_key_pem: str = ""
    signing_alg: str = Field("ES256", pattern="^(ES256|RS256)$")
    # HMAC key for API key hashes; empty = derived from SECRETS_KEY.
    api_key_pepper: str = ""
    # Per-tenant quota of active (unrevoked, unexpired) API keys; 0 = unlimited. Over it: 409 quota_exceeded.
    tenant_max_api_keys: int = Field(50, ge=0)
    # Brute force (`limits` strings, moving windows; docs/auth.md): failed logins per (account, client IP) tightly,
    # per account over every client loosely (above what one client may try, so nobody locks the owner out alone)
    # and per client IP over every account.
    login_limit_account_client: str = "5/5minute"
    login_limit_account: str = "100/hour"
    login_limit_ip: str = "30/5minute"
    # Peers whose X-Forwarded-For is believed: the gateway only (IPs or CIDRs; docs/operations.md).
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    # Mail (verification, invitations, notices): SMTP when smtp_url is set (smtp://, smtps:// or
    # smtp+starttls://user:pass@host:port), else one .eml file per mail in mail_outbox_dir. Sent by auth's worker.
    smtp_url: str = ""
    mail_from: str = "Atende <no-reply@localhost>"
    mail_outbox_dir: str = ".data/mail"
    mail_poll_seconds: float = Field(2.0, gt=0, le=60)
    mail_max_attempts: int = Field(20, ge=1, le=100)
    # Where the admin console is served (e.g. https://atende.example.com); empty = mails carry the token only.
    public_base_url: str = ""
    email_token_ttl_hours: int = Field(72, ge=1, le=720)
    demo_tenant_name: str = Field("Demo", validation_alias=AliasChoices("DEMO_TENANT_NAME", "AUTH_DEMO_TENANT_NAME"))
    demo_admin_email: str = Field(
        "admin@demo.local", validation_alias=AliasChoices("DEMO_ADMIN_EMAIL", "AUTH_DEMO_ADMIN_EMAIL")
    )
    demo_admin_password: str = Field(
        "atende-demo-admin", validation_alias=AliasChoices("DEMO_ADMIN_PASSWORD", "AUTH_DEMO_ADMIN_PASSWORD")
    )
    demo_agent_email: str = Field(
        "agent@demo.local", validation_alias=AliasChoices("DEMO_AGENT_EMAIL", "AUTH_DEMO_AGENT_EMAIL")
    )
    demo_agent_password: str = Field(
        "atende-demo-agent", validation_alias=AliasChoices("DEMO_AGENT_PASSWORD", "AUTH_DEMO_AGENT_PASSWORD")
    )
    demo_viewer_email: str = Field(
        "viewer@demo.local", validation_alias=AliasChoices("DEMO_VIEWER_EMAIL", "AUTH_DEMO_VIEWER_EMAIL")
    )
    demo_viewer_password: str = Field(
        "atende-demo-viewer", validation_alias=AliasChoices("DEMO_VIEWER_PASSWORD", "AUTH_DEMO_VIEWER_PASSWORD")
    )

    def seed_problems(self) -> list[str]:
        """The demo admin is the platform superuser: production never seeds accounts with known passwords."""
        problems = []
        for env, field in (
            ("DEMO_ADMIN_PASSWORD", "demo_admin_password"),
            ("DEMO_AGENT_PASSWORD", "demo_agent_password"),
            ("DEMO_VIEWER_PASSWORD", "demo_viewer_password"),
        ):
            if is_development_secret(getattr(self, field), type(self).model_fields[field].default):
                problems.append(f"{env}: {PRODUCTION_REFUSES}; set a strong password to seed the demo accounts")
        return problems


@lru_cache
def get_settings() -> AuthSettings:
    return load_settings(AuthSettings)  # type: ignore[return-value]
