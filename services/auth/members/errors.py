"""Membership errors."""

from shared.errors import Conflict, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"


class AlreadyMember(Conflict):
    code = "already_member"


class LastAdmin(Conflict):
    code = "last_admin"
