"""argon2id hashing off the event loop, and the password policy."""

from __future__ import annotations

import asyncio

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")
_DUMMY_HASH = ""


def configure_hashing(memory_kib: int = 19_456, time_cost: int = 2, parallelism: int = 1) -> None:
    """argon2id cost (OWASP's m=19 MiB, t=2, p=1 by default); hashes made with other costs still verify."""
    global _context, _DUMMY_HASH
    _context = CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__rounds=time_cost,
        argon2__parallelism=parallelism,
    )
    # Verified against when the email is unknown, so both paths cost one argon2 verification.
    _DUMMY_HASH = _context.hash("not-a-real-password-0000")


configure_hashing()

# The most common passwords of public breach lists (short ones are already refused by the length rule).
COMMON_PASSWORDS = frozenset(
    [
        "1234567890",
        "12345678910",
        "0123456789",
        "0987654321",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "qwertyuiop",
        "qwerty1234",
        "qwerty12345",
        "1234qwer!@",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "iloveyou123",
        "abcdefghij",
        "abc1234567",
        "1234567890a",
        "a1234567890",
        "aaaaaaaaaa",
        "1111111111",
        "0000000000",
        "9876543210",
        "princess12",
        "sunshine12",
        "football12",
        "baseball12",
        "superman12",
        "michael123",
        "charlie123",
        "welcome123",
        "welcome1234",
        "letmein123",
        "administrator",
        "admin12345",
        "admin123456",
        "changeme123",
        "trustno1234",
        "dragon1234",
        "monkey1234",
        "master1234",
        "starwars12",
        "whatever12",
        "qazwsxedcr",
        "zaq12wsxcde",
        "senha12345",
        "senha123456",
        "mudar12345",
        "brasil1234",
        "123mudar12",
        "qwer123456",
        "asdfghjkl1",
        "zxcvbnm123",
        "mypassword",
        "mypassword1",
        "password!!",
        "passwordpassword",
        "1234512345",
        "5555555555",
        "7777777777",
        "abcd123456",
    ]
)


def check_policy(password: str, email: str, min_length: int) -> str | None:
    """Why the password is refused, or None."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters long"
    if len(password) > 256:
        return "password must be at most 256 characters long"
    lowered = password.strip().lower()
    if lowered == email.strip().lower() or lowered == email.split("@")[0].lower():
        return "password must not be your email address"
    if lowered in COMMON_PASSWORDS or len(set(lowered)) < 4:
        return "password is too common or too simple; choose another"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, hashed: str | None) -> bool:
    """Constant work whether or not the user exists."""
    return await asyncio.to_thread(_context.verify, password, hashed or _DUMMY_HASH) and hashed is not None
