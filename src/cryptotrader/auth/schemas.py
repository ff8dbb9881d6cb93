"""The auth domain's shapes: users, sessions and tokens as the service returns them, the
email and password rules, and the bodies of the auth API. Inputs refuse unknown fields;
emails are normalised and passwords checked here, so a bad one is a 422 naming its field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from cryptotrader.auth.errors import InvalidEmail, WeakPassword

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str | None
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True)
class Identity:
    """A user as sessions and access tokens describe them."""

    id: UUID
    email: str
    display_name: str | None
    is_admin: bool


@dataclass(frozen=True)
class Credentials:
    identity: Identity
    password_hash: str | None
    banned: bool


@dataclass(frozen=True)
class LoginGate:
    """The outcome of opening a login attempt: refused for ``retry_after`` seconds, or
    allowed as attempt ``attempt_id`` (recorded as a failure until marked succeeded) with
    the credentials of the email, if it is registered."""

    retry_after: int | None
    attempt_id: int | None
    credentials: Credentials | None


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str  # the raw token: returned to the client once, never stored
    id: UUID
    family_id: UUID
    expires_at: datetime


@dataclass(frozen=True)
class Rotation:
    """What refreshing a token did. ``rotated``: ``token`` replaces the presented one;
    ``reused``: an already rotated token came back and its family (``revoked`` tokens) was
    revoked; ``invalid``: unknown, expired or revoked by logout; ``banned``: the user is."""

    outcome: Literal["rotated", "reused", "invalid", "banned"]
    user: Identity | None = None
    family_id: UUID | None = None
    token: IssuedRefreshToken | None = None
    revoked: int = 0


@dataclass(frozen=True)
class Revocation:
    user_id: UUID
    family_id: UUID
    revoked: int


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail(f"not a valid email address: {email!r}")
    return email


def check_password(password: str) -> None:
    """Raise WeakPassword unless the password is 8-128 characters with a letter and a digit."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise WeakPassword(
            f"password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise WeakPassword("password must contain at least one letter and one digit")


@dataclass(frozen=True, kw_only=True)
class Session:
    """A signed-in user and the refresh token of their new session."""

    user: Identity
    refresh: IssuedRefreshToken


_EMAIL_EXAMPLE = "alice@example.com"
_PASSWORD_EXAMPLE = "correct-horse-42"  # noqa: S105 - an OpenAPI example
_REFRESH_EXAMPLE = "x3Jq9vQ2f0o1hYb7cWmA5sZkL8nR4tUeP6dG2jHbV0iKyXwN1aMzC3oE7rTuS9lQ"
EXAMPLE_USER_ID = "6f1c2a4e-8d3b-4b7a-9e51-2c0d8f4a7b19"  # the user of every domain's examples


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except InvalidEmail as exc:
        raise PydanticCustomError(InvalidEmail.code, "{reason}", {"reason": exc.detail}) from exc


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, examples=[_EMAIL_EXAMPLE])
    password: str = Field(
        repr=False,
        description="8 to 128 characters with at least one letter and one digit.",
        examples=[_PASSWORD_EXAMPLE],
    )
    display_name: str | None = Field(
        default=None,
        max_length=100,
        description="Defaults to the email's local part.",
        examples=["Alice"],
    )

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return _email(value)

    @field_validator("password")
    @classmethod
    def _strong_password(cls, value: str) -> str:
        try:
            check_password(value)
        except WeakPassword as exc:
            raise PydanticCustomError(
                WeakPassword.code, "{reason}", {"reason": exc.detail}
            ) from exc
        return value

    @field_validator("display_name")
    @classmethod
    def _trimmed_name(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320, examples=[_EMAIL_EXAMPLE])
    password: str = Field(
        repr=False, min_length=1, max_length=MAX_PASSWORD_LENGTH, examples=[_PASSWORD_EXAMPLE]
    )

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return _email(value)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(
        repr=False, min_length=1, max_length=256, examples=[_REFRESH_EXAMPLE]
    )


class LogoutRequest(RefreshRequest):
    pass


class UserOut(BaseModel):
    id: UUID = Field(examples=[EXAMPLE_USER_ID])
    email: str = Field(examples=[_EMAIL_EXAMPLE])
    display_name: str | None = Field(examples=["Alice"])
    is_admin: bool = Field(examples=[False])

    @classmethod
    def of(cls, identity: Identity) -> UserOut:
        return cls(
            id=identity.id,
            email=identity.email,
            display_name=identity.display_name,
            is_admin=identity.is_admin,
        )


class TokenResponse(BaseModel):
    """A signed-in session: a short-lived access token (send it as ``Authorization: Bearer``)
    and a refresh token to exchange for the next pair at /auth/refresh (single use)."""

    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi..."])
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int = Field(description="Seconds until the access token expires.", examples=[900])
    refresh_token: str = Field(examples=[_REFRESH_EXAMPLE])
    user: UserOut
