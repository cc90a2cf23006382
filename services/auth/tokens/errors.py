"""Token errors."""

from shared.errors import RateLimited, Unauthorized


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"


class InvalidServiceCredentials(Unauthorized):
    code = "invalid_service_credentials"


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"


class TooManyAttempts(RateLimited):
    code = "too_many_login_attempts"
