"""The argon2id cost: RFC 9106 in production, lowered only by the suite's own setting."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from pydantic import ValidationError

from cryptotrader.auth import passwords
from cryptotrader.config import Settings
from tests.conftest import TEST_PASSWORD_HASH


def test_production_defaults_are_rfc_9106(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TEST_PASSWORD_HASH:  # the environment of a production process: none of them
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    hasher = passwords.hasher_for(defaults)
    profile = RFC_9106_LOW_MEMORY  # t=3, m=64 MiB, p=4, 32-byte hash, 16-byte salt, argon2id
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (3, 65536, 4)
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        profile.time_cost,
        profile.memory_cost,
        profile.parallelism,
    )
    assert (hasher.hash_len, hasher.salt_len, hasher.type) == (
        profile.hash_len,
        profile.salt_len,
        profile.type,
    )
    assert hasher.hash("s3cret-passw0rd").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_suite_hashes_with_its_own_cheap_setting() -> None:
    stored = passwords.hash_password("s3cret-passw0rd")
    assert stored.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert passwords.verify_password(stored, "s3cret-passw0rd")
    assert not passwords.verify_password(stored, "s3cret-passw0rd!")
    # a production hash is a hash "with other parameters": re-hashed at its next sign-in
    production = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
    assert passwords.needs_rehash(production.hash("x"))
    assert not passwords.needs_rehash(stored)


def test_memory_must_cover_every_lane() -> None:
    with pytest.raises(ValidationError, match="at least 8 KiB per lane"):
        Settings(_env_file=None, password_hash_memory_kib=16, password_hash_parallelism=4)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Settings(_env_file=None, password_hash_time_cost=0)  # type: ignore[call-arg]
