"""Stopping stops everything: `cryptotrader serve` and `cryptotrader worker` on the embedded
server, ended by SIGTERM (systemd, Docker, `kill`) or SIGINT (Ctrl-C), leave no PostgreSQL
running behind them once they were its last user."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from cryptotrader.api.health import Q
from cryptotrader.backtest.tasks import WORKER_LOCK_KEY

WAIT_S = 90  # generous: only to catch a hang (a first start runs initdb and the migrations)


@dataclass(frozen=True)
class Embedded:
    data_dir: Path

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "pg" / "postmaster.pid"

    def env(self, port: int) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CRYPTOTRADER_") and k != "DATABASE_URL"
        }
        env.update(
            CRYPTOTRADER_DATA_DIR=str(self.data_dir),
            CRYPTOTRADER_HOST="127.0.0.1",
            CRYPTOTRADER_PORT=str(port),
        )
        return env

    def postmaster(self) -> tuple[int, str]:
        """The running server's pid and conninfo, from its postmaster.pid."""
        lines = self.pidfile.read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), lines[3], lines[4]
        return pid, f"host={socket_dir} port={port} user=postgres dbname=cryptotrader"


@pytest.fixture(scope="module")
def embedded() -> Iterator[Embedded]:
    """A data dir with its server initialised and migrated (by `db migrate`, which stops it
    again), so each test only starts it. Not under pytest's tmp_path, which a concurrent
    session may prune while a server runs there."""
    found = Embedded(Path(tempfile.mkdtemp(prefix="ct-test-signals-")))
    migrated = subprocess.run(
        [sys.executable, "-m", "cryptotrader", "db", "migrate"],
        env=found.env(free_port()),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    yield found
    if found.pidfile.exists():  # a failed test left it running: fast shutdown
        pid, _ = found.postmaster()
        if running(pid):
            os.kill(pid, signal.SIGINT)
        wait_for_end(pid)
    shutil.rmtree(found.data_dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_end(pid: int) -> None:
    """The server removes its postmaster.pid a moment before its process ends."""
    deadline = time.monotonic() + WAIT_S
    while running(pid):
        assert time.monotonic() < deadline, f"postgres {pid} still runs"
        time.sleep(0.05)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        assert proc.poll() is None, f"exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
            return bool(answer.status == 200)
    except OSError:
        return False


def worker_connected(embedded: Embedded) -> bool:
    """Whether a backtest worker holds its presence lock (its loop runs)."""
    if not embedded.pidfile.exists():
        return False
    try:
        with psycopg.connect(embedded.postmaster()[1], connect_timeout=2) as conn:
            row = conn.execute(Q["lock_holders"], {"key": WORKER_LOCK_KEY}).fetchone()
    except (psycopg.OperationalError, IndexError):
        return False
    return row is not None and row[0] > 0


def start(
    embedded: Embedded, command: list[str], tmp_path: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    port = free_port()
    log = tmp_path / "command.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cryptotrader", *command],
            env=embedded.env(port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if command[0] == "serve":
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), proc, log)
    else:
        wait_until(lambda: worker_connected(embedded), proc, log)
    return proc, log


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        (["serve"], signal.SIGTERM),
        (["serve"], signal.SIGINT),
        (["worker"], signal.SIGTERM),
        (["worker"], signal.SIGINT),
    ],
    ids=["serve-SIGTERM", "serve-SIGINT", "worker-SIGTERM", "worker-SIGINT"],
)
def test_a_signal_stops_the_command_and_its_embedded_server(
    embedded: Embedded, command: list[str], signum: signal.Signals, tmp_path: Path
) -> None:
    proc, log = start(embedded, command, tmp_path)
    server_pid, _ = embedded.postmaster()
    assert running(server_pid)

    proc.send_signal(signum)
    code = proc.wait(timeout=WAIT_S)

    assert not embedded.pidfile.exists(), f"the server is still up:\n{log.read_text()}"
    wait_for_end(server_pid)
    if (command, signum) == (["serve"], signal.SIGTERM):
        assert code == -signal.SIGTERM  # ended by the signal, as uvicorn means it to
    assert "Traceback" not in log.read_text()


USER = """
import json, sys
from pathlib import Path
from cryptotrader.db.embedded import start_embedded

data_dir, dead = Path(sys.argv[1]), int(sys.argv[2])
start_embedded(data_dir)
users = data_dir / "pg" / ".handle_pids.json"
users.write_text(json.dumps([*json.loads(users.read_text()), dead]))
"""


def test_users_that_died_unseen_do_not_keep_the_last_one_from_stopping_the_server(
    embedded: Embedded,
) -> None:
    """What `serve --workers N` meets: its API processes end by uvicorn's re-raised SIGTERM,
    without their exit handler, still listed as users when the supervisor exits last."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    user = subprocess.run(
        [sys.executable, "-c", USER, str(embedded.data_dir), str(dead.pid)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert user.returncode == 0, user.stderr
    assert not embedded.pidfile.exists(), "the server is still up"
