from shared.errors import BadRequest, NotFound, ServiceUnavailable


class ChannelNotFound(NotFound):
    code = "channel_not_found"


class InvalidCredentials(BadRequest):
    status, code, title = 422, "invalid_credentials", "Invalid credentials"


class ProviderUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
