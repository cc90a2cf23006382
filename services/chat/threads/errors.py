"""Thread and message errors."""

from shared.errors import Conflict, NotFound, Unprocessable


class ThreadNotFound(NotFound):
    code = "thread_not_found"


class MessageNotFound(NotFound):
    code = "message_not_found"


class MessageTooLong(Unprocessable):
    code = "message_too_long"


class MessageEmpty(Unprocessable):
    code = "message_empty"


class NotReviewable(Conflict):
    code = "message_not_reviewable"


class SectorNotAllowed(Unprocessable):
    code = "sector_not_allowed"
