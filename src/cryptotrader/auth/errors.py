"""Typed errors of sign-up, sign-in and sessions.

Each is a :class:`~cryptotrader.errors.DomainError`, so the API renders it as problem+json
with its status and stable ``code``; the CLI catches :class:`AuthError`."""

from __future__ import annotations

from cryptotrader.errors import DomainError


class AuthError(DomainError):
    status = 400
    code = "auth_error"
    title = "Authentication error"


class InvalidEmail(AuthError):
    status = 422
    code = "invalid_email"
    title = "Invalid email address"


class WeakPassword(AuthError):
    status = 422
    code = "weak_password"
    title = "Password too weak"


class EmailTaken(AuthError):
    status = 409
    code = "email_taken"
    example_detail = "a user with email alice@example.com already exists"
    title = "Email already registered"


class InvalidCredentials(AuthError):
    """Wrong email or wrong password: one message for both, so the answer does not tell
    which emails are registered."""

    status = 401
    code = "invalid_credentials"
    example_detail = "invalid email or password"
    title = "Invalid email or password"

    def __init__(self) -> None:
        super().__init__("invalid email or password")


class UserBanned(AuthError):
    status = 403
    code = "user_banned"
    example_detail = "this user is banned"
    title = "User is banned"


class LoginRateLimited(AuthError):
    """Too many failed logins for this email from this address; ``retry_after`` seconds
    until the next attempt is accepted (sent as the ``Retry-After`` header)."""

    status = 429
    code = "rate_limited"
    example_detail = "too many failed logins; try again in 42 seconds"
    title = "Too many login attempts"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(f"too many failed logins; try again in {self.retry_after} seconds")


class InvalidRefreshToken(AuthError):
    status = 401
    code = "invalid_refresh_token"
    example_detail = "the refresh token is unknown, expired or revoked"
    title = "Invalid or expired refresh token"


class RefreshTokenReused(AuthError):
    """A refresh token that was already rotated came back: it was copied, so the whole
    session (token family) has been revoked."""

    status = 401
    code = "refresh_token_reused"
    example_detail = "this refresh token was already used; the session has been revoked"
    title = "Refresh token reused"

    def __init__(self) -> None:
        super().__init__("this refresh token was already used; the session has been revoked")
