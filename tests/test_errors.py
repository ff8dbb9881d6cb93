"""Every code our SQL raises maps to its domain's error class, whatever has been imported:
a rejection read in a worker that never imported that domain is still typed."""

from __future__ import annotations

import subprocess
import sys


def test_a_code_maps_to_its_class_without_importing_its_domain() -> None:
    probe = (
        "from cryptotrader.errors import DomainError\n"
        "for code in ('account_archived', 'idempotency_key_reused', 'no_candles',"
        " 'template_not_found', 'backtest_not_cancellable'):\n"
        "    cls = DomainError.for_code(code)\n"
        "    print(code, cls.__module__ if cls else None)\n"
        "print('unknown', DomainError.for_code('no_such_code'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:6] == [
        "account_archived cryptotrader.accounts.errors",
        "idempotency_key_reused cryptotrader.trading.errors",
        "no_candles cryptotrader.market.errors",
        "template_not_found cryptotrader.templates.errors",
        "backtest_not_cancellable cryptotrader.backtest.errors",
        "unknown None",
    ]
