"""Password hashing: argon2id through argon2-cffi.

The cost comes from the settings, RFC 9106's second recommended option by default
(t=3, m=64 MiB, p=4: argon2-cffi's own default, ``argon2.profiles.RFC_9106_LOW_MEMORY``).
The test suite lowers it through ``CRYPTOTRADER_PASSWORD_HASH_*``; a hash made with other
parameters than the current ones is re-hashed at its next sign-in (:func:`needs_rehash`).
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cryptotrader.config import Settings, get_settings


def hasher_for(settings: Settings) -> PasswordHasher:
    """The argon2id hasher with ``settings``' cost (hash and salt lengths: the library's)."""
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


@functools.cache
def _hasher() -> PasswordHasher:
    return hasher_for(get_settings())


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)
