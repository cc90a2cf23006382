"""Query errors."""

from shared.errors import BadRequest


class InvalidQuery(BadRequest):
    code = "invalid_query"
