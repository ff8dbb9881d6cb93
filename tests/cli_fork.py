"""``cryptotrader ARGS`` in a process of its own, forked from a server that has already
imported the CLI: what a user's ``cryptotrader`` does, without paying the interpreter's
start and the imports (about 2 s here, most of a CLI test) on every call.

Each call is a fresh child of multiprocessing's fork server, which preloads
``cryptotrader.cli``: the child takes the call's environment, working directory, argv and
standard streams, makes afresh what was read at import (Rich's two consoles, made again in
place as they read ``COLUMNS`` and the streams when made; the cached settings), runs
``main()`` and exits with its code, an uncaught exception printed as Python prints one.

Stdlib only at import, so the fork server's children import nothing more. The real entry
points (``python -m cryptotrader``) stay covered by the tests that start long-running
commands with ``subprocess.Popen`` (tests/test_signals.py, the worker tests); set
``CRYPTOTRADER_TEST_CLI_SUBPROCESS=1`` to run every CLI test as a plain subprocess."""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

_context: Any = None

# what the commands import when they run (kept out of ``cryptotrader.cli``'s import so that
# a user's ``--help`` is quick): preloaded too, or every child imports pandas and talib
_LAZY = [
    "cryptotrader.admin.service",
    "cryptotrader.analytics.service",
    "cryptotrader.backtest.service",
    "cryptotrader.bots.service",
    "cryptotrader.market.candles",
    "cryptotrader.social.service",
]


def _forkserver() -> Any:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tests.cli_fork", "cryptotrader.cli", *_LAZY])
        _context = ctx
    return _context


def _child(args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    code: int = 1
    try:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = ["cryptotrader", *args]
        from cryptotrader.cli import main, render
        from cryptotrader.config import get_settings

        # made again in place: the command modules hold references to these two
        render.console.__init__()  # type: ignore[misc]
        render.err.__init__(stderr=True, soft_wrap=True)  # type: ignore[misc]
        get_settings.cache_clear()
        try:
            main()
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
    except BaseException:  # as the interpreter reports an uncaught one
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run ``cryptotrader ARGS`` in a forked child; its exit code, stdout and stderr."""
    with tempfile.TemporaryDirectory(prefix="ct-cli-") as tmp:
        out, err = Path(tmp) / "out", Path(tmp) / "err"
        proc = _forkserver().Process(target=_child, args=(args, env, str(cwd), str(out), str(err)))
        proc.start()
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise TimeoutError(f"cryptotrader {' '.join(args)} ran over {timeout} s")
        return (
            proc.exitcode if proc.exitcode is not None else -1,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )
