"""/account-templates: thin HTTP over the templates service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, status

from cryptotrader.api.deps import AnyCaller, SignedIn
from cryptotrader.api.pagination import (
    Cursor,
    InvalidCursor,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
)
from cryptotrader.api.problems import responses
from cryptotrader.errors import InvalidRequest, NotAuthenticated
from cryptotrader.templates import service
from cryptotrader.templates.errors import InvalidRating, OwnTemplateRating, TemplateNotFound
from cryptotrader.templates.schemas import (
    EXAMPLE_TEMPLATE_ID,
    RatingRequest,
    Template,
    TemplateCreate,
)

router = APIRouter(prefix="/account-templates", tags=["account templates"])
TemplateId = Annotated[UUID, Path(examples=[EXAMPLE_TEMPLATE_ID])]
MINE = responses(NotAuthenticated, TemplateNotFound)


@router.get(
    "",
    responses=responses(InvalidCursor),
    summary="Public templates and your own, newest first",
    description="No sign-in needed: anonymous callers get the public templates.",
)
async def list_templates(
    caller: AnyCaller, cursor: Cursor = None, limit: Limit = 100
) -> Page[Template]:
    async with caller.unit() as conn:
        items = await service.list_templates(
            conn, signed_in=caller.claims is not None, after=decode_cursor(cursor), limit=limit
        )
    last = items[-1] if len(items) == limit else None
    return Page[Template](
        items=items, next_cursor=encode_cursor(last.created_at, last.id) if last else None
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, InvalidRequest),
    summary="Create a template of your own",
)
async def create_template(caller: SignedIn, body: TemplateCreate) -> Template:
    async with caller.unit() as conn:
        return await service.create_template(conn, caller.actor, body)


@router.get(
    "/{template_id}",
    responses=responses(TemplateNotFound),
    summary="One template (public ones need no sign-in)",
)
async def get_template(caller: AnyCaller, template_id: TemplateId) -> Template:
    async with caller.unit() as conn:
        return await service.get_template(conn, template_id, signed_in=caller.claims is not None)


@router.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=MINE,
    summary="Delete one of your templates",
    description="Only your own; any other template, public ones included, is "
    "`template_not_found`. Accounts opened from it keep existing.",
)
async def delete_template(caller: SignedIn, template_id: TemplateId) -> None:
    async with caller.unit() as conn:
        await service.delete_template(conn, caller.actor, template_id)


@router.post(
    "/{template_id}/rate",
    responses=responses(NotAuthenticated, TemplateNotFound, OwnTemplateRating, InvalidRating),
    summary="Rate a template from 1 to 5",
    description="One rating per user and template: rating again replaces yours. The "
    "template's `rating` is the average of all ratings. You cannot rate your own template "
    "(`own_template_rating`): its creator's rating would only inflate it.",
)
async def rate_template(caller: SignedIn, template_id: TemplateId, body: RatingRequest) -> Template:
    async with caller.unit() as conn:
        return await service.rate_template(conn, caller.actor, template_id, body.rating)
