"""Typed errors of sign-up and sign-in."""

from __future__ import annotations


class AuthError(Exception):
    status = 400
    code = "auth_error"


class InvalidEmail(AuthError):
    status = 422
    code = "invalid_email"


class WeakPassword(AuthError):
    status = 422
    code = "weak_password"


class EmailTaken(AuthError):
    status = 409
    code = "email_taken"
