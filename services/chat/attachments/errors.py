"""Why an attachment was refused (each maps to one problem+json answer)."""

from shared.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType


class AttachmentInvalid(BadRequest):
    code = "attachment_invalid"


class AttachmentTypeRefused(UnsupportedMediaType):
    code = "attachment_type_refused"


class AttachmentTooLarge(PayloadTooLarge):
    code = "attachment_too_large"


class TooManyAttachments(Unprocessable):
    code = "too_many_attachments"


class AttachmentUrlRefused(BadRequest):
    code = "attachment_url_refused"


class AttachmentUrlUnavailable(Unprocessable):
    code = "attachment_url_unavailable"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"
