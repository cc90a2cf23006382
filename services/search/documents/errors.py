"""Document errors."""

from shared.errors import NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType


class DocumentNotFound(NotFound):
    code = "document_not_found"


class DocumentTooLarge(PayloadTooLarge):
    code = "document_too_large"


class UnsupportedDocumentType(UnsupportedMediaType):
    code = "unsupported_document_type"


class EmptyDocument(Unprocessable):
    code = "empty_document"
