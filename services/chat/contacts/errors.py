"""Contact errors."""

from shared.errors import NotFound, Unprocessable


class ContactNotFound(NotFound):
    code = "contact_not_found"


class InvalidContact(Unprocessable):
    code = "invalid_contact"


class ContactMergeConflict(Unprocessable):
    code = "contact_merge_conflict"
