"""Verification errors."""

from shared.errors import BadRequest, Unprocessable


class EmailTokenInvalid(BadRequest):
    code = "email_token_invalid"


class PasswordRequired(Unprocessable):
    code = "password_required"
