"""API key errors."""

from shared.errors import Forbidden, NotFound, Unprocessable


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class ScopeNotHeld(Forbidden):
    code = "scope_not_held"


class InvalidExpiry(Unprocessable):
    code = "invalid_expiry"
