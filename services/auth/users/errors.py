"""User errors."""

from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable


class UserNotFound(NotFound):
    code = "user_not_found"


class EmailTaken(Conflict):
    code = "email_taken"


class WeakPassword(Unprocessable):
    code = "weak_password"


class SignupDisabled(Forbidden):
    code = "signup_disabled"


class WrongPassword(Forbidden):
    code = "wrong_password"


class UsersOnly(Forbidden):
    code = "users_only"


class SelfChangeRefused(Conflict):
    code = "self_change_refused"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
