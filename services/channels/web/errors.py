from shared.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unprocessable,
    UnsupportedMediaType,
)


class UnknownWidgetKey(NotFound):
    code = "unknown_widget_key"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"


class MessageTooLong(PayloadTooLarge):
    code = "message_too_long"


class VisitorRateLimited(RateLimited):
    code = "visitor_rate_limited"


class StreamsLimited(RateLimited):
    code = "too_many_streams"


# The same codes as chat's API attachments (docs/attachments.md).
class AttachmentInvalid(BadRequest):
    code = "attachment_invalid"


class AttachmentTypeRefused(UnsupportedMediaType):
    code = "attachment_type_refused"


class AttachmentTooLarge(PayloadTooLarge):
    code = "attachment_too_large"


class TooManyAttachments(Unprocessable):
    code = "too_many_attachments"
