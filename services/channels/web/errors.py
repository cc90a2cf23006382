from shared.errors import Forbidden, NotFound, PayloadTooLarge, RateLimited


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
