"""Signing key errors."""

from shared.errors import Conflict, NotFound


class SigningKeyNotFound(NotFound):
    code = "signing_key_not_found"


class SigningKeyStillSigning(Conflict):
    code = "signing_key_in_use"
