"""Tool errors."""

from shared.errors import Conflict, NotFound, Unprocessable


class ToolNotFound(NotFound):
    code = "tool_not_found"


class ToolNameTaken(Conflict):
    code = "tool_name_taken"


class ToolInvalid(Unprocessable):
    code = "tool_invalid"
