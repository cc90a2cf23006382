"""Assistant errors."""

from shared.errors import NotFound


class AssistantNotFound(NotFound):
    code = "assistant_not_found"
