"""Account templates: the built-in ones, users' public ones, and the caller's own.

Visibility is RLS's: a template the caller cannot see is TemplateNotFound, exactly like a
missing one. Ratings are written only by the database function rate_template(), which keeps
each template's average; the creator of a template may not rate it (OwnTemplateRating).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.db.calls import fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.templates.schemas import Template, TemplateCreate

Q = load_queries("cryptotrader.templates")
MAX_PAGE = 500


async def _with_my_ratings(
    conn: Conn, rows: list[dict[str, Any]], *, signed_in: bool
) -> list[Template]:
    mine: dict[UUID, int] = {}
    if signed_in and rows:
        found = await fetch_all(conn, Q["my_ratings"], {"ids": [r["id"] for r in rows]})
        mine = {r["template_id"]: r["rating"] for r in found}
    return [Template.model_validate(r | {"my_rating": mine.get(r["id"])}) for r in rows]


async def list_templates(
    conn: Conn,
    *,
    signed_in: bool,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 100,
) -> list[Template]:
    """Public templates and the caller's own, newest first; ``after`` is the (created_at, id)
    of the last template of the previous page. Anonymous callers get the public ones."""
    rows = await fetch_all(
        conn,
        Q["list_templates"],
        {
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": max(1, min(limit, MAX_PAGE)),
        },
    )
    return await _with_my_ratings(conn, rows, signed_in=signed_in)


async def get_template(conn: Conn, template_id: UUID, *, signed_in: bool = True) -> Template:
    """One template the caller may see. Raises TemplateNotFound."""
    row = require(await fetch_one(conn, Q["get_template"], {"id": template_id}), TemplateNotFound())
    return (await _with_my_ratings(conn, [row], signed_in=signed_in))[0]


async def create_template(conn: Conn, actor: Actor, data: TemplateCreate) -> Template:
    """A new template of the caller's (private unless ``is_public``). Audited
    ``template.create``."""
    row = await fetch_one(conn, Q["insert_template"], data.model_dump())
    template = await get_template(conn, require(row, TemplateNotFound())["id"])
    details = {"name": template.name, "is_public": template.is_public}
    await audit.record(conn, actor, "template.create", "account_template", template.id, details)
    return template


async def delete_template(conn: Conn, actor: Actor, template_id: UUID) -> None:
    """Delete one of the caller's templates; accounts made from it stay, unlinked.
    Raises TemplateNotFound for any other template, public ones included. Audited
    ``template.delete``."""
    require(await fetch_one(conn, Q["delete_template"], {"id": template_id}), TemplateNotFound())
    await audit.record(conn, actor, "template.delete", "account_template", template_id)


async def rate_template(conn: Conn, actor: Actor, template_id: UUID, rating: int) -> Template:
    """Rate a template 1 to 5 (again: replaces the earlier rating); its average follows.
    Raises TemplateNotFound, OwnTemplateRating, InvalidRating. Audited ``template.rate``."""
    await fetch_one(conn, Q["rate_template"], {"id": template_id, "rating": rating})
    template = await get_template(conn, template_id)
    details = {"rating": rating}
    await audit.record(conn, actor, "template.rate", "account_template", template_id, details)
    return template
