"""Auth and tenants service: Users, tenants, roles, tokens, API keys and secrets."""
