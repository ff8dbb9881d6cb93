"""Errors of account templates (TemplateNotFound is shared with accounts)."""

from __future__ import annotations

from cryptotrader.errors import Forbidden, InvalidRequest


class OwnTemplateRating(Forbidden):
    code = "own_template_rating"
    title = "You cannot rate your own template"


class InvalidRating(InvalidRequest):
    code = "invalid_rating"
    title = "Invalid rating"
