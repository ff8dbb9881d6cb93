"""Cross-tenant walk derived from the OpenAPI document.

For every operation whose path has a parameter, user A owns the resources the path can
name (accounts, orders, a watchlist, portfolios, a private template, a backtest session,
a bot and an AI strategy)
and user B calls the operation with A's ids, with a body valid for B: the answer must be
404 and the database, every table of the public and auth schemas as the owner sees it,
must not change at all (a refused call rolls back, its audit record included). Each
operation needs a rule in RULES, so a new route with a path parameter fails here until
someone decides how to walk it; the rules are checked against their owners too, so a 404
cannot come from a wrong body or a wrong id.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from cryptotrader.api.app import create_app
from tests.api.conftest import Api, api_settings
from tests.webhooks.helpers import owned_webhook

V1 = "/api/v1"
PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Tenant:
    """A user and one of each resource a path can name. Candidates for a parameter are
    listed first the one the owner control uses, then the others."""

    headers: dict[str, str]
    account: str  # not the default; holds the pending order; member of `portfolio`
    default_account: str  # holds the filled order
    pending_order: str
    filled_order: str
    watchlist: str  # holds BTC
    portfolio: str  # not the default
    default_portfolio: str
    template: str  # private
    backtest: str  # pending
    bot: str  # paused, an llm bot running `ai_strategy`
    ai_strategy: str
    follow: str  # of a listed trader of its own
    notification: str  # unread, on the default account
    alert: str  # an active price alert
    webhook: str  # an enabled endpoint
    webhook_delivery: str  # a pending delivery to it

    def ids(self, parameter: str) -> list[str]:
        return {
            "account_id": [self.account, self.default_account],
            "order_id": [self.pending_order, self.filled_order],
            "watchlist_id": [self.watchlist],
            "portfolio_id": [self.portfolio, self.default_portfolio],
            "template_id": [self.template],
            "session_id": [self.backtest],
            "bot_id": [self.bot],
            "strategy_id": [self.ai_strategy],
            "follow_id": [self.follow],
            "notification_id": [self.notification],
            "alert_id": [self.alert],
            "endpoint_id": [self.webhook],
            "delivery_id": [self.webhook_delivery],
        }[parameter]


# A path parameter naming a row that belongs to someone, and the 404 code for a stranger.
OWNED = {
    "account_id": "account_not_found",
    "order_id": "order_not_found",
    "watchlist_id": "watchlist_not_found",
    "portfolio_id": "portfolio_not_found",
    "template_id": "template_not_found",
    "session_id": "backtest_session_not_found",
    "bot_id": "bot_not_found",
    "strategy_id": "ai_strategy_not_found",
    "follow_id": "follow_not_found",
    "notification_id": "notification_not_found",
    "alert_id": "alert_not_found",
    "endpoint_id": "webhook_endpoint_not_found",
    "delivery_id": "webhook_delivery_not_found",
}
# A path parameter that names no row: a fixed value (BTC is in every tenant's watchlist).
CONSTANT = {"symbol": "BTC"}

Body = Callable[[Tenant], Any]


@dataclass(frozen=True)
class Walk:
    """Call it with another user's ids; `body` (given the caller) is valid for the caller
    and names only the caller's own rows. `owner_refusal`: the code the owner gets instead
    of a 2xx, for a call only a stranger may make."""

    body: Body | None = None
    owner_refusal: str | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing of another user's can be named here."""

    reason: str


def _own_account(t: Tenant) -> Any:
    return {"account_id": t.default_account}


ADMIN_ONLY = "admin only: a non-admin gets not_found for any id (tests/admin)"
RULES: dict[tuple[str, str], Walk | Skip] = {
    ("GET", "/accounts/{account_id}"): Walk(),
    ("PATCH", "/accounts/{account_id}"): Walk(lambda t: {"account_name": "Taken over"}),
    ("POST", "/accounts/{account_id}/pause"): Walk(),
    ("POST", "/accounts/{account_id}/resume"): Walk(),
    ("POST", "/accounts/{account_id}/archive"): Walk(),
    ("POST", "/accounts/{account_id}/default"): Walk(),
    ("POST", "/accounts/{account_id}/reset"): Walk(lambda t: {"reason": "cross-tenant walk"}),
    ("GET", "/accounts/{account_id}/positions"): Walk(),
    ("GET", "/accounts/{account_id}/audit"): Walk(),
    ("GET", "/accounts/{account_id}/trades"): Walk(),
    ("GET", "/accounts/{account_id}/equity"): Walk(),
    ("GET", "/accounts/{account_id}/performance"): Walk(),
    ("GET", "/orders/{order_id}"): Walk(),
    ("POST", "/notifications/{notification_id}/read"): Walk(),
    ("POST", "/notifications/{notification_id}/unread"): Walk(),
    ("DELETE", "/notifications/{notification_id}"): Walk(),
    ("GET", "/alerts/{alert_id}"): Walk(),
    ("PATCH", "/alerts/{alert_id}"): Walk(lambda t: {"value": "123"}),
    ("POST", "/alerts/{alert_id}/enable"): Walk(),
    ("POST", "/alerts/{alert_id}/disable"): Walk(),
    ("DELETE", "/alerts/{alert_id}"): Walk(),
    ("GET", "/alerts/{alert_id}/firings"): Walk(),
    ("GET", "/webhooks/{endpoint_id}"): Walk(),
    ("PATCH", "/webhooks/{endpoint_id}"): Walk(lambda t: {"description": "Taken over"}),
    ("DELETE", "/webhooks/{endpoint_id}"): Walk(),
    ("POST", "/webhooks/{endpoint_id}/rotate-secret"): Walk(),
    ("POST", "/webhooks/{endpoint_id}/test"): Walk(),
    ("GET", "/webhooks/{endpoint_id}/deliveries"): Walk(),
    ("POST", "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver"): Walk(),
    ("POST", "/orders/{order_id}/cancel"): Walk(),
    ("GET", "/market/prices/{symbol}"): Skip("a public price keyed by ticker"),
    # the caller's own setting keyed by its name; a setting whose value names another
    # user's account (default_account_id) is walked in test_resources.py
    ("GET", "/me/settings/{name}"): Skip("the caller's own setting, keyed by name"),
    ("PUT", "/me/settings/{name}"): Skip("the caller's own setting, keyed by name"),
    ("DELETE", "/me/settings/{name}"): Skip("the caller's own setting, keyed by name"),
    ("GET", "/account-templates/{template_id}"): Walk(),
    ("DELETE", "/account-templates/{template_id}"): Walk(),
    ("POST", "/account-templates/{template_id}/rate"): Walk(
        lambda t: {"rating": 5}, owner_refusal="own_template_rating"
    ),
    ("GET", "/watchlists/{watchlist_id}"): Walk(),
    ("PATCH", "/watchlists/{watchlist_id}"): Walk(lambda t: {"name": "Taken over"}),
    ("DELETE", "/watchlists/{watchlist_id}"): Walk(),
    ("POST", "/watchlists/{watchlist_id}/symbols"): Walk(lambda t: {"symbol": "ETH"}),
    ("PUT", "/watchlists/{watchlist_id}/symbols"): Walk(lambda t: {"symbols": ["ETH"]}),
    ("DELETE", "/watchlists/{watchlist_id}/symbols/{symbol}"): Walk(),
    ("GET", "/portfolios/{portfolio_id}"): Walk(),
    ("PATCH", "/portfolios/{portfolio_id}"): Walk(lambda t: {"name": "Taken over"}),
    ("DELETE", "/portfolios/{portfolio_id}"): Walk(),
    ("POST", "/portfolios/{portfolio_id}/accounts"): Walk(_own_account),
    ("DELETE", "/portfolios/{portfolio_id}/accounts/{account_id}"): Walk(),
    ("GET", "/portfolios/{portfolio_id}/performance"): Walk(),
    ("GET", "/strategies/{strategy_name}"): Skip("a public built-in strategy keyed by name"),
    ("GET", "/backtests/{session_id}"): Walk(),
    ("POST", "/backtests/{session_id}/cancel"): Walk(),
    ("DELETE", "/backtests/{session_id}"): Walk(),
    ("GET", "/backtests/{session_id}/results"): Walk(),
    ("GET", "/backtests/{session_id}/performance"): Walk(),
    ("GET", "/ai-strategies/{strategy_id}"): Walk(),
    ("PATCH", "/ai-strategies/{strategy_id}"): Walk(lambda t: {"name": "Taken over"}),
    # the owner's strategy is in use by their bot: only a stranger reaches the delete
    ("DELETE", "/ai-strategies/{strategy_id}"): Walk(owner_refusal="ai_strategy_in_use"),
    ("GET", "/bots/{bot_id}"): Walk(),
    ("PATCH", "/bots/{bot_id}"): Walk(lambda t: {"name": "Taken over"}),
    ("DELETE", "/bots/{bot_id}"): Walk(),
    ("POST", "/bots/{bot_id}/start"): Walk(),
    ("POST", "/bots/{bot_id}/pause"): Walk(),
    ("POST", "/bots/{bot_id}/stop"): Walk(),
    ("GET", "/bots/{bot_id}/decisions"): Walk(),
    ("GET", "/bots/{bot_id}/costs"): Walk(),
    ("GET", "/bots/{bot_id}/performance"): Walk(),
    ("GET", "/bots/{bot_id}/calibration"): Walk(),
    # the owner's backtest reads candles this database does not have
    ("POST", "/bots/{bot_id}/backtest"): Walk(
        lambda t: {"start": "2021-01-04T00:00:00Z", "end": "2021-01-05T00:00:00Z"},
        owner_refusal="no_candles",
    ),
    ("GET", "/follows/{follow_id}"): Walk(),
    ("POST", "/follows/{follow_id}/pause"): Walk(),
    ("POST", "/follows/{follow_id}/resume"): Walk(),
    ("DELETE", "/follows/{follow_id}"): Walk(),
    ("PUT", "/follows/{follow_id}/copy"): Walk(
        lambda t: {"enabled": True, "account_id": t.default_account, "allocation_pct": "10"}
    ),
    ("GET", "/follows/{follow_id}/copies"): Walk(),
    ("GET", "/follows/{follow_id}/gap"): Walk(),
    # a listed trader's profile is public by design; an unlisted one is not found for
    # anyone but its owner (tests/social/test_social.py and the RLS test in SQL there)
    ("GET", "/traders/{trader_id}"): Skip("a listed trader's public profile"),
    # likewise their published figures and curve (tests/social/test_leaderboard.py, in SQL too)
    ("GET", "/traders/{trader_id}/performance"): Skip("a listed trader's public performance"),
    # every user's rows by design, for admins; anyone else gets not_found (tests/admin)
    ("POST", "/admin/users/{user_id}/ban"): Skip(ADMIN_ONLY),
    ("POST", "/admin/users/{user_id}/unban"): Skip(ADMIN_ONLY),
    ("POST", "/admin/accounts/{account_id}/suspend"): Skip(ADMIN_ONLY),
    ("POST", "/admin/accounts/{account_id}/unsuspend"): Skip(ADMIN_ONLY),
    ("PATCH", "/admin/templates/{template_id}"): Skip(ADMIN_ONLY),
    ("POST", "/admin/templates/{template_id}/retire"): Skip(ADMIN_ONLY),
    ("POST", "/admin/jobs/{job_id}/retry"): Skip(ADMIN_ONLY),
}


def parameterized_operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the document whose path has a parameter, keyed as in RULES."""
    found = {}
    for path, item in doc["paths"].items():
        if "{" not in path:
            continue
        assert path.startswith(V1), f"{path}: a parameterized path outside {V1}"
        for method, operation in item.items():
            if method in METHODS:
                found[(method.upper(), path.removeprefix(V1))] = operation
    return found


def parameters(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def test_every_operation_with_a_path_parameter_has_a_rule() -> None:
    operations = parameterized_operations(create_app(api_settings()).openapi())
    missing = sorted(set(operations) - set(RULES))
    stale = sorted(set(RULES) - set(operations))
    assert not missing, f"no cross-tenant rule for {missing}: add one to RULES"
    assert not stale, f"rules for operations that are gone: {stale}"
    for (method, path), rule in RULES.items():
        operation = operations[(method, path)]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(parameters(path)), (method, path, declared)
        if isinstance(rule, Skip):
            continue
        unknown = set(parameters(path)) - set(OWNED) - set(CONSTANT)
        assert not unknown, f"{method} {path}: no way to fill {unknown}"
        assert set(parameters(path)) & set(OWNED), f"{method} {path} names nothing owned"
        body = operation.get("requestBody")
        if body is None:
            assert rule.body is None, f"{method} {path} takes no body"
        elif body.get("required"):
            assert rule.body is not None, f"{method} {path} needs a body"


# ------------------------------------------------------------------ tenants


def _created(r: Any) -> str:
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def tenant(api: Api) -> Tenant:
    """A signed-up user with one of each resource, created through the API (a notification,
    which has no create route, as the owner)."""
    user_id, h = api.user()
    tag = uuid.uuid4().hex[:8]
    c = api.client
    default_account = next(a["id"] for a in c.get(f"{V1}/accounts", headers=h).json()["items"])
    account = _created(c.post(f"{V1}/accounts", headers=h, json={"account_name": f"Side {tag}"}))
    order = {"symbol": "BTC", "side": "buy", "amount": "0.01"}
    pending = c.post(
        f"{V1}/orders",
        headers=h,
        json=order | {"account_id": account, "order_type": "limit", "limit_price": "1000"},
    )
    filled = c.post(
        f"{V1}/orders", headers=h, json=order | {"account_id": default_account, "symbol": "ETH"}
    )
    assert (pending.json()["status"], filled.json()["status"]) == ("pending", "completed")
    watchlist = c.post(f"{V1}/watchlists", headers=h, json={"name": f"W {tag}", "symbols": ["BTC"]})
    default_portfolio = next(p["id"] for p in c.get(f"{V1}/portfolios", headers=h).json()["items"])
    portfolio = _created(c.post(f"{V1}/portfolios", headers=h, json={"name": f"P {tag}"}))
    member = c.post(
        f"{V1}/portfolios/{portfolio}/accounts", headers=h, json={"account_id": account}
    )
    assert member.status_code == 200, member.text
    template = c.post(
        f"{V1}/account-templates", headers=h, json={"name": f"T {tag}", "is_public": False}
    )
    backtest = c.post(
        f"{V1}/backtests",
        headers=h,
        json={
            "symbol": "BTC",
            "start": "2021-01-01T00:00:00Z",
            "end": "2021-02-01T00:00:00Z",
            "strategy": "sma_crossover",
        },
    )
    assert backtest.status_code == 202, backtest.text
    strategy = _created(
        c.post(
            f"{V1}/ai-strategies",
            headers=h,
            json={"name": f"S {tag}", "prompt": "Trade {symbols}.", "indicators": ["rsi_14"]},
        )
    )
    bot = c.post(
        f"{V1}/bots",
        headers=h,
        json={
            "name": f"B {tag}",
            "account_id": account,
            "strategy": "llm",
            "strategy_id": strategy,
            "target_symbols": ["BTC"],
        },
    )
    _, leader = api.user()
    listed = {"is_listed": True, "display_name": f"Leader {tag}"}
    assert c.put(f"{V1}/me/trader-profile", headers=leader, json=listed).status_code == 200
    leader_id = c.get(f"{V1}/me/trader-profile", headers=leader).json()["user_id"]
    follow = _created(c.post(f"{V1}/follows", headers=h, json={"trader_id": leader_id}))
    price_alert = {"type": "price", "symbol": "BTC", "condition": "above", "value": "1000000"}
    alert = _created(c.post(f"{V1}/alerts", headers=h, json=price_alert))
    with api.db.owner() as conn:
        notification = conn.execute(
            "INSERT INTO account_notifications"
            " (account_id, user_id, notification_type, title, message)"
            " VALUES (%s, %s, 'test.event', 'Hello', 'A test notification') RETURNING id",
            [default_account, user_id],
        ).fetchone()
    assert notification is not None
    webhook, webhook_delivery = owned_webhook(api.db, user_id)
    return Tenant(
        headers=h,
        account=account,
        default_account=str(default_account),
        pending_order=_created(pending),
        filled_order=_created(filled),
        watchlist=_created(watchlist),
        portfolio=portfolio,
        default_portfolio=str(default_portfolio),
        template=_created(template),
        backtest=str(backtest.json()["id"]),
        bot=_created(bot),
        ai_strategy=strategy,
        follow=follow,
        notification=str(notification["id"]),
        alert=alert,
        webhook=webhook,
        webhook_delivery=webhook_delivery,
    )


def snapshot(api: Api) -> dict[str, tuple[int, str]]:
    """Row count and md5 of the content of every table of the public and auth schemas.
    (private holds only the stream's outbox, which the listener drains on its own.)"""
    out = {}
    with api.db.owner() as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname IN ('public', 'auth') ORDER BY 1, 2"
        ).fetchall()
        assert len(tables) > 20
        for t in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*) AS n,"
                    " md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5"
                    " FROM {}.{} t"
                ).format(sql.Identifier(t["schemaname"]), sql.Identifier(t["tablename"]))
            ).fetchone()
            assert row is not None
            out[f"{t['schemaname']}.{t['tablename']}"] = (row["n"], row["md5"])
    return out


def _url(path: str, values: dict[str, str]) -> str:
    return V1 + path.format(**values)


# ------------------------------------------------------------------ the walk


def test_another_users_ids_answer_404_and_change_nothing(api: Api) -> None:
    operations = parameterized_operations(api.client.get("/openapi.json").json())
    a, b = tenant(api), tenant(api)
    before = snapshot(api)
    walked, wrong, unruled = 0, [], []
    for (method, path), _ in sorted(operations.items()):
        rule = RULES.get((method, path))
        if rule is None:
            unruled.append((method, path))
            continue
        if isinstance(rule, Skip):
            continue
        names = parameters(path)
        choices = [a.ids(n) if n in OWNED else [CONSTANT[n]] for n in names]
        codes = {OWNED[n] for n in names if n in OWNED}
        body = rule.body(b) if rule.body else None
        for combination in itertools.product(*choices):
            url = _url(path, dict(zip(names, combination, strict=True)))
            r = api.client.request(method, url, headers=b.headers, json=body)
            walked += 1
            problem = r.json() if r.headers.get("content-type", "").startswith(PROBLEM) else {}
            if r.status_code != 404 or problem.get("code") not in codes:
                wrong.append((method, url, r.status_code, r.text[:200]))
    assert not unruled, f"no cross-tenant rule for {unruled}: add one to RULES"
    assert not wrong, "\n".join(map(str, wrong))
    assert walked >= 40
    after = snapshot(api)
    assert {k: v for k, v in after.items() if before[k] != v} == {}
    assert after == before


def test_the_rules_work_for_the_owner(api: Api) -> None:
    """The same calls by the owner, each on resources of its own: never a 404 or a 422, so
    the walk's 404s are about whose rows they are, not about wrong ids or bodies."""
    for (method, path), rule in sorted(RULES.items()):
        if isinstance(rule, Skip):
            continue
        owner = tenant(api)
        names = parameters(path)
        values = {n: owner.ids(n)[0] if n in OWNED else CONSTANT[n] for n in names}
        body = rule.body(owner) if rule.body else None
        r = api.client.request(method, _url(path, values), headers=owner.headers, json=body)
        if rule.owner_refusal is None:
            assert r.status_code < 300, (method, path, r.status_code, r.text)
        else:
            assert r.json()["code"] == rule.owner_refusal, (method, path, r.text)
