"""Tenant errors."""

from shared.errors import Conflict, Forbidden, NotFound, Unprocessable


class TenantNotFound(NotFound):
    code = "tenant_not_found"


class SlugTaken(Conflict):
    code = "slug_taken"


class SuperuserOnlyField(Forbidden):
    code = "superuser_only"


class InvalidTenantSettings(Unprocessable):
    code = "invalid_tenant_settings"


class SecretNotFound(NotFound):
    code = "secret_not_found"
