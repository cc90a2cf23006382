"""Why an attachment was refused beyond shared/attachments.py's refusals (each maps to one problem+json answer)."""

from shared.errors import BadRequest, NotFound, Unprocessable


class AttachmentUrlRefused(BadRequest):
    code = "attachment_url_refused"


class AttachmentUrlUnavailable(Unprocessable):
    code = "attachment_url_unavailable"


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"


# The answers a request with `attachments` (or OpenAI image parts) may get, for the routes' OpenAPI.
ATTACHMENT_REFUSALS: dict[int | str, dict] = {
    400: {"description": "an attachment is malformed (bad base64) or its URL points to a refused address"},
    413: {"description": "an attachment is larger than CHAT_ATTACHMENT_MAX_BYTES"},
    415: {"description": "an attachment's bytes are not a JPEG, PNG, WebP or GIF image"},
    422: {"description": "too many attachments, or an attachment URL that could not be fetched"},
}
