"""Errors of the stream. They never become HTTP responses: a message the server cannot use
is answered with an ``error`` message, and a failed authentication closes the socket."""

from __future__ import annotations


class StreamError(Exception):
    """Base of the stream's errors."""


class BadMessage(StreamError):
    """A client message the server cannot use; its text is the ``error`` message's."""


class Unauthorized(StreamError):
    """The caller's token is missing, invalid, expired or for another user: close 4401
    with this reason."""
