"""The admin capability: users and their bans, every user's accounts and their suspension,
the templates the platform offers, and the platform's state.

Every function first checks that ``actor`` is an administrator (``app_metadata.role`` is
``admin`` in their claims) or the system (the CLI, the service role), and raises
:class:`AdminOnly`, a 404 like an unknown route's, for anyone else: to them the admin
capability does not exist. Every change records an ``admin.*`` audit row in the same
transaction.

The connection: the users functions touch the auth tables, which the API roles have no
grants on, so they take a unit of work run as the service role (``db.session.as_service``);
the others take the caller's own unit, where row level security lets an admin read every
row, suspend any account (the account guard trusts admins) and write the platform's
templates (migration 0027). The CLI runs all of them as the service role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from cryptotrader.accounts.errors import AccountArchived, AccountNotFound
from cryptotrader.accounts.schemas import AccountStatus
from cryptotrader.admin.errors import (
    AccountAlreadySuspended,
    AccountNotSuspended,
    AdminOnly,
    CannotBanYourself,
    TemplateAlreadyRetired,
    TemplateNameTaken,
    UserNotBanned,
    UserNotFound,
)
from cryptotrader.admin.schemas import (
    AdminAccount,
    AdminTemplateCreate,
    AdminUser,
    BacktestQueue,
    BanRequest,
    DatabaseState,
    FeedState,
    PlatformStatus,
    TemplateUpdate,
)
from cryptotrader.api.health import lock_holders
from cryptotrader.audit import service as audit
from cryptotrader.audit.schemas import Actor
from cryptotrader.backtest.tasks import WORKER_LOCK_KEY
from cryptotrader.db.calls import execute, fetch_all, fetch_one, require
from cryptotrader.db.queries import load_queries
from cryptotrader.db.session import Conn
from cryptotrader.errors import InvalidRequest
from cryptotrader.market.feed import FEED_LOCK_KEY
from cryptotrader.market.service import feed_status
from cryptotrader.templates import service as templates
from cryptotrader.templates.errors import TemplateNotFound
from cryptotrader.templates.schemas import Template

Q = load_queries("cryptotrader.admin")
MAX_PAGE = 500
FOREVER = "infinity"  # banned_until of a ban for good
PLATFORM_TEMPLATE_NAME = "account_templates_system_name_key"
TEMPLATE = "account_template"  # the resource type of templates' audit rows
Key = tuple[datetime, UUID]


def is_admin(actor: Actor) -> bool:
    """Whether ``actor`` may use the admin capability: an administrator's claims, or the
    system's (the service role)."""
    claims = actor.claims
    metadata = claims.get("app_metadata")
    return claims.get("role") == "service_role" or (
        isinstance(metadata, Mapping) and metadata.get("role") == "admin"
    )


def require_admin(actor: Actor) -> None:
    """Raise AdminOnly (404, an unknown route's answer) unless :func:`is_admin`."""
    if not is_admin(actor):
        raise AdminOnly


def _page(after: Key | None, limit: int) -> dict[str, Any]:
    return {
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": max(1, min(limit, MAX_PAGE)),
    }


def like_pattern(text: str | None) -> str | None:
    """An ILIKE pattern matching ``text`` anywhere, its wildcards taken literally; None for
    no text."""
    text = (text or "").strip()
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ------------------------------------------------------------------ users


async def list_users(
    conn: Conn,
    actor: Actor,
    *,
    search: str | None = None,
    banned: bool | None = None,
    after: Key | None = None,
    limit: int = 100,
) -> list[AdminUser]:
    """Users newest first, with their ban state, activity and number of accounts; ``search``
    is a part of the email or display name (any case), ``banned`` keeps the banned (True)
    or the others (False); ``after`` is the (created_at, id) of the previous page's last
    user. ``conn`` is a service-role unit. Raises AdminOnly."""
    require_admin(actor)
    params = {"user_id": None, "pattern": like_pattern(search), "banned": banned}
    rows = await fetch_all(conn, Q["list_users"], params | _page(after, limit))
    return [AdminUser.model_validate(r) for r in rows]


async def get_user(conn: Conn, actor: Actor, user_id: UUID) -> AdminUser:
    """One user as :func:`list_users` shows them. Raises AdminOnly, UserNotFound."""
    require_admin(actor)
    params = {"user_id": user_id, "pattern": None, "banned": None}
    row = await fetch_one(conn, Q["list_users"], params | _page(None, 1))
    return AdminUser.model_validate(require(row, UserNotFound(f"no user {user_id}")))


async def _lock_user(conn: Conn, user_id: UUID) -> bool:
    """Lock the user's row; whether they are banned now. Raises UserNotFound."""
    row = await fetch_one(conn, Q["lock_user"], {"user_id": user_id})
    return bool(require(row, UserNotFound(f"no user {user_id}"))["banned"])


async def ban_user(conn: Conn, actor: Actor, user_id: UUID, ban: BanRequest) -> AdminUser:
    """Ban a user until ``ban.until`` (None: for good), or change the end of their ban:
    signing in and refreshing a session are refused meanwhile, and every session of theirs
    is revoked now (an access token already issued lives out its short lifetime). ``conn``
    is a service-role unit. Raises AdminOnly, CannotBanYourself, UserNotFound. Audited
    ``admin.user_banned`` with the reason, the end and the sessions revoked."""
    require_admin(actor)
    if actor.user_id == user_id:
        raise CannotBanYourself("an administrator cannot ban themselves")
    await _lock_user(conn, user_id)
    until: datetime | str = ban.until or FOREVER
    await execute(conn, Q["set_banned_until"], {"user_id": user_id, "until": until})
    revoked = await execute(conn, Q["revoke_user_sessions"], {"user_id": user_id})
    details = {
        "reason": ban.reason,
        "until": ban.until.isoformat() if ban.until else None,
        "sessions_revoked": revoked,
    }
    await audit.record(conn, actor, "admin.user_banned", "user", user_id, details)
    return await get_user(conn, actor, user_id)


async def unban_user(conn: Conn, actor: Actor, user_id: UUID) -> AdminUser:
    """Lift a user's ban now (they sign in again; revoked sessions stay revoked). ``conn``
    is a service-role unit. Raises AdminOnly, UserNotFound, UserNotBanned. Audited
    ``admin.user_unbanned``."""
    require_admin(actor)
    if not await _lock_user(conn, user_id):
        raise UserNotBanned(f"user {user_id} is not banned")
    await execute(conn, Q["set_banned_until"], {"user_id": user_id, "until": None})
    await audit.record(conn, actor, "admin.user_unbanned", "user", user_id)
    return await get_user(conn, actor, user_id)


# ------------------------------------------------------------------ accounts


async def list_accounts(
    conn: Conn,
    actor: Actor,
    *,
    status: AccountStatus | None = None,
    owner_email: str | None = None,
    after: Key | None = None,
    limit: int = 100,
) -> list[AdminAccount]:
    """Every user's accounts newest first, with their owner; ``status`` and ``owner_email``
    (exact, any case) filter them; ``after`` is the (created_at, id) of the previous page's
    last account. Raises AdminOnly."""
    require_admin(actor)
    owner = (owner_email or "").strip() or None
    params = {"account_id": None, "status": status, "owner_email": owner}
    rows = await fetch_all(conn, Q["list_accounts"], params | _page(after, limit))
    return [AdminAccount.model_validate(r) for r in rows]


async def get_account(conn: Conn, actor: Actor, account_id: UUID) -> AdminAccount:
    """One account as :func:`list_accounts` shows it. Raises AdminOnly, AccountNotFound."""
    require_admin(actor)
    params = {"account_id": account_id, "status": None, "owner_email": None}
    row = await fetch_one(conn, Q["list_accounts"], params | _page(None, 1))
    return AdminAccount.model_validate(require(row, AccountNotFound()))


async def _locked_status(conn: Conn, account_id: UUID) -> dict[str, Any]:
    row = await fetch_one(conn, Q["lock_account"], {"id": account_id})
    found = require(row, AccountNotFound())
    return found | {"status": found["status"] or "active"}


async def suspend_account(conn: Conn, actor: Actor, account_id: UUID, reason: str) -> AdminAccount:
    """Suspend an active or paused account: its owner can place no order and cannot lift
    the suspension. Raises AdminOnly, AccountNotFound, AccountAlreadySuspended,
    AccountArchived (archiving is final). Audited ``admin.account_suspended`` with the
    reason, the status before and the owner."""
    require_admin(actor)
    found = await _locked_status(conn, account_id)
    if found["status"] == "suspended":
        raise AccountAlreadySuspended(f"account {account_id} is already suspended")
    if found["status"] == "archived":
        raise AccountArchived("account is archived, and archiving is final")
    await fetch_one(conn, Q["set_account_status"], {"id": account_id, "status": "suspended"})
    details = {"reason": reason, "previous_status": found["status"], "owner_id": found["user_id"]}
    await audit.record(conn, actor, "admin.account_suspended", "account", account_id, details)
    return await get_account(conn, actor, account_id)


async def unsuspend_account(conn: Conn, actor: Actor, account_id: UUID) -> AdminAccount:
    """Lift a suspension: the account is active again. Raises AdminOnly, AccountNotFound,
    AccountNotSuspended. Audited ``admin.account_unsuspended`` with the owner."""
    require_admin(actor)
    found = await _locked_status(conn, account_id)
    if found["status"] != "suspended":
        raise AccountNotSuspended(f"account {account_id} is {found['status']}, not suspended")
    await fetch_one(conn, Q["set_account_status"], {"id": account_id, "status": "active"})
    details = {"owner_id": found["user_id"]}
    await audit.record(conn, actor, "admin.account_unsuspended", "account", account_id, details)
    return await get_account(conn, actor, account_id)


# ------------------------------------------------------------------ templates


async def list_templates(
    conn: Conn,
    actor: Actor,
    *,
    retired: bool | None = None,
    after: Key | None = None,
    limit: int = 100,
) -> list[Template]:
    """The platform's templates (offered or retired) and users' shared ones, newest first;
    ``retired`` keeps those no longer offered (True) or the offered ones (False); ``after``
    is the (created_at, id) of the previous page's last template. Raises AdminOnly."""
    require_admin(actor)
    rows = await fetch_all(conn, Q["list_templates"], {"retired": retired} | _page(after, limit))
    return [Template.model_validate(r) for r in rows]


async def _named(statement: Awaitable[dict[str, Any] | None], name: str) -> UUID | None:
    """The id a template statement returns; TemplateNameTaken when the platform already
    has a template of that name."""
    try:
        row = await statement
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == PLATFORM_TEMPLATE_NAME:
            raise TemplateNameTaken(f"a platform template is already named {name}") from exc
        raise
    return None if row is None else UUID(str(row["id"]))


async def create_template(conn: Conn, actor: Actor, data: AdminTemplateCreate) -> Template:
    """A template of the platform's (no creator), offered to every user unless created
    with ``is_public`` false. Raises AdminOnly, TemplateNameTaken. Audited
    ``admin.template_created``."""
    require_admin(actor)
    made = await _named(fetch_one(conn, Q["insert_template"], data.model_dump()), data.name)
    if made is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise RuntimeError("the template insert returned no row")
    template = await templates.get_template(conn, made)
    details = {"name": template.name, "is_public": template.is_public}
    await audit.record(conn, actor, "admin.template_created", TEMPLATE, made, details)
    return template


async def update_template(
    conn: Conn, actor: Actor, template_id: UUID, changes: TemplateUpdate
) -> Template:
    """Change the given fields of one of the platform's templates (``is_public`` true
    offers a retired one again). Raises AdminOnly, InvalidRequest when nothing is given,
    TemplateNotFound (not the platform's), TemplateNameTaken. Audited
    ``admin.template_updated`` with the changes."""
    require_admin(actor)
    fields: dict[str, Any] = changes.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("no field to change")
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in fields
    )
    query = sql.SQL(Q["update_template"]).format(assignments, sql.Placeholder("template_id"))
    statement = fetch_one(conn, query, fields | {"template_id": template_id})
    if await _named(statement, str(fields.get("name"))) is None:
        raise TemplateNotFound(f"account template {template_id} not found")
    details = changes.model_dump(mode="json", exclude_unset=True)
    await audit.record(conn, actor, "admin.template_updated", TEMPLATE, template_id, details)
    return await templates.get_template(conn, template_id)


async def retire_template(conn: Conn, actor: Actor, template_id: UUID) -> Template:
    """Stop offering a template, the platform's own or a user's shared one: no new account
    can be opened from it; the accounts opened from it stay. Raises AdminOnly,
    TemplateNotFound, TemplateAlreadyRetired. Audited ``admin.template_retired``."""
    require_admin(actor)
    row = await fetch_one(conn, Q["lock_template"], {"id": template_id})
    if not require(row, TemplateNotFound(f"account template {template_id} not found"))["is_public"]:
        raise TemplateAlreadyRetired(f"account template {template_id} is not offered")
    await fetch_one(conn, Q["retire_template"], {"id": template_id})
    template = await templates.get_template(conn, template_id)
    details = {"name": template.name, "is_builtin": template.is_builtin}
    await audit.record(conn, actor, "admin.template_retired", TEMPLATE, template_id, details)
    return template


# ------------------------------------------------------------------ the platform


async def platform_status(conn: Conn, actor: Actor) -> PlatformStatus:
    """The market feed (whether a process leads it, its last state), the backtest queue
    (workers connected, sessions by status) and the database (version, size, sessions).
    Reads only. Raises AdminOnly."""
    require_admin(actor)
    queue, database = (
        await fetch_one(conn, Q["backtest_queue"]),
        await fetch_one(conn, Q["database_state"]),
    )
    if queue is None or database is None:  # pragma: no cover - aggregates: always one row
        raise RuntimeError("the platform's state returned no row")
    return PlatformStatus(
        feed=FeedState(
            leading=await lock_holders(conn, FEED_LOCK_KEY) > 0, status=await feed_status(conn)
        ),
        backtests=BacktestQueue.model_validate(
            queue | {"backtest_workers": await lock_holders(conn, WORKER_LOCK_KEY)}
        ),
        database=DatabaseState.model_validate(database),
        checked_at=database["checked_at"],
    )
