"""Errors of account templates (accounts raise TemplateNotFound too, opening one from a
template)."""

from __future__ import annotations

from cryptotrader.errors import Forbidden, InvalidRequest, NotFound
from cryptotrader.templates.schemas import EXAMPLE_TEMPLATE_ID


class TemplateNotFound(NotFound):
    code = "template_not_found"
    title = "Account template not found"
    example_detail = f"account template {EXAMPLE_TEMPLATE_ID} not found"


class OwnTemplateRating(Forbidden):
    code = "own_template_rating"
    title = "You cannot rate your own template"
    example_detail = "you cannot rate your own template"


class InvalidRating(InvalidRequest):
    code = "invalid_rating"
    title = "Invalid rating"
    example_detail = "a rating is a whole number from 1 to 5"
